// Times shown in the reader's own clock; the offline notice with the numbers' age; the service worker.
(function () {
  "use strict";
  function localise(root) {
    root.querySelectorAll(".ts").forEach(function (node) {
      var holder = node.closest("[data-ms]") || node;
      var ms = Number(node.getAttribute("data-ms") || holder.getAttribute("data-ms"));
      if (ms) { node.textContent = new Date(ms).toLocaleString(document.documentElement.lang); }
    });
  }
  function offline() {
    var main = document.getElementById("main");
    var banner = document.getElementById("offline");
    var asOf = main && Number(main.getAttribute("data-as-of"));
    if (!banner || !asOf) { return; }
    banner.hidden = navigator.onLine;
    var minutes = Math.max(0, Math.round((Date.now() - asOf) / 60000));
    banner.querySelector("time").textContent = new Date(asOf).toLocaleString(document.documentElement.lang) +
      " (" + minutes + " min)";
  }
  document.addEventListener("DOMContentLoaded", function () {
    localise(document);
    offline();
    window.addEventListener("online", offline);
    window.addEventListener("offline", offline);
    document.body.addEventListener("htmx:sseMessage", function () { localise(document); });
    if ("serviceWorker" in navigator) { navigator.serviceWorker.register("/sw.js", { scope: "/" }); }
    var signOut = document.querySelector('form[action="/logout"]');
    if (signOut && window.caches) {  // the last numbers kept for offline are the signed-in person's: forget them
      signOut.addEventListener("submit", function () { caches.delete("attain-portal-v1"); });
    }
  });
}());
