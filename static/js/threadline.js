// Threadline's behaviour besides htmx. The Content-Security-Policy admits no inline script
// or on*= handler, so templates mark elements with data attributes and this file acts.
(function () {
  "use strict";

  // The viewer chose to load this message's remote images: its page was served with a
  // policy that admits web images, and only this message's images get their URL back.
  function loadChosenRemoteImages(root) {
    root.querySelectorAll("[data-load-remote-images] img[data-remote-src]").forEach(function (img) {
      img.src = img.dataset.remoteSrc;
      img.removeAttribute("data-remote-src");
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    loadChosenRemoteImages(document);
  });
})();
