/* Checkout (first-party): mounts Stripe Elements when Stripe.js loaded; offline it shows a
 * plain notice instead. Submitting is a demo: nothing is charged. */
(function () {
  "use strict";
  function init() {
    var form = document.getElementById("payment-form");
    var slot = document.getElementById("card-element");
    var errors = document.getElementById("card-errors");
    if (!form || !slot) return;
    if (typeof window.Stripe === "function") {
      var stripe = window.Stripe("pk_test_51NwDemoNorthwindLabsExampleKey0000000000000000000000000000");
      var card = stripe.elements().create("card");
      slot.textContent = "";
      card.mount(slot);
    } else {
      slot.classList.add("card-element-offline");
      slot.textContent = "Stripe.js could not be loaded (offline?). This is a demo: no card is needed.";
    }
    form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      errors.textContent = "";
      var done = document.createElement("p");
      done.className = "notice";
      done.textContent = "Thanks! This is a demo shop, so no order was placed and nothing was charged.";
      form.appendChild(done);
    });
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
