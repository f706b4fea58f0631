/* Office temperature chart (first-party). Its file name contains "analytics", but it sends
 * nothing anywhere: it draws an SVG line chart from the data-series attribute. consent-proxy
 * must keep it, because a script's category comes from where it is served, not its name. */
(function () {
  "use strict";
  function draw() {
    var host = document.getElementById("energy-dashboard");
    if (!host) return;
    var data = host.getAttribute("data-series").split(",").map(Number);
    var w = 720, h = 180, pad = 28;
    var min = Math.min.apply(null, data) - 0.5, max = Math.max.apply(null, data) + 0.5;
    var x = function (i) { return pad + (i * (w - 2 * pad)) / (data.length - 1); };
    var y = function (v) { return h - pad - ((v - min) * (h - 2 * pad)) / (max - min); };
    var pts = data.map(function (v, i) { return x(i).toFixed(1) + "," + y(v).toFixed(1); });
    var ns = "http://www.w3.org/2000/svg";
    var svg = document.createElementNS(ns, "svg");
    svg.setAttribute("viewBox", "0 0 " + w + " " + h);
    svg.setAttribute("class", "chart");
    svg.setAttribute("role", "img");
    svg.setAttribute("aria-label", "Office temperature over the last 24 hours");
    var area = document.createElementNS(ns, "polygon");
    area.setAttribute("points", pad + "," + (h - pad) + " " + pts.join(" ") + " " + (w - pad) + "," + (h - pad));
    area.setAttribute("class", "chart-area");
    var line = document.createElementNS(ns, "polyline");
    line.setAttribute("points", pts.join(" "));
    line.setAttribute("class", "chart-line");
    [0, 6, 12, 18, 23].forEach(function (i) {
      var t = document.createElementNS(ns, "text");
      t.setAttribute("x", x(i)); t.setAttribute("y", h - 6);
      t.setAttribute("class", "chart-label");
      t.textContent = (i < 10 ? "0" : "") + i + ":00";
      svg.appendChild(t);
    });
    svg.appendChild(area);
    svg.appendChild(line);
    host.textContent = "";
    var now = data[data.length - 1];
    var big = document.createElement("p");
    big.className = "dashboard-now";
    big.textContent = now.toFixed(1) + " °C now · 24 h average " +
      (data.reduce(function (a, b) { return a + b; }, 0) / data.length).toFixed(1) + " °C";
    host.appendChild(big);
    host.appendChild(svg);
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", draw);
  else draw();
})();
