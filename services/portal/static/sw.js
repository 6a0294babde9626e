// The portal's service worker: the shell is cached at install; each page is fetched from the network first
// and its last copy kept, so offline the rep sees the last known numbers (the page shows their age).
"use strict";
var CACHE = "attain-portal-v1";
var SHELL = ["/static/app.css", "/static/app.js", "/static/icon.svg",
  "/static/vendor/htmx.org-2.0.11/htmx.min.js", "/static/vendor/htmx-ext-sse-2.2.4/sse.min.js"];

self.addEventListener("install", function (event) {
  event.waitUntil(caches.open(CACHE).then(function (cache) { return cache.addAll(SHELL); }));
  self.skipWaiting();
});

self.addEventListener("activate", function (event) {
  event.waitUntil(caches.keys().then(function (names) {
    return Promise.all(names.filter(function (n) { return n !== CACHE; }).map(function (n) { return caches.delete(n); }));
  }));
  self.clients.claim();
});

self.addEventListener("fetch", function (event) {
  var request = event.request;
  var url = new URL(request.url);
  if (request.method !== "GET" || url.origin !== self.location.origin || url.pathname.endsWith("/events")) {
    return;  // live streams, posts and other origins go straight to the network
  }
  if (url.pathname.startsWith("/static/")) {
    event.respondWith(caches.match(request).then(function (hit) { return hit || fetch(request); }));
    return;
  }
  if (request.mode === "navigate" && url.pathname.startsWith("/reps/")) {
    event.respondWith(fetch(request).then(function (response) {
      if (response.ok) {
        var copy = response.clone();
        caches.open(CACHE).then(function (cache) { cache.put(request, copy); });
      }
      return response;
    }).catch(function () { return caches.match(request); }));
  }
});
