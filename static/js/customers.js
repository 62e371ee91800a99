// Customer file behaviours: print buttons and the kiosk's self-resetting finish screen.
(function () {
  "use strict";
  document.querySelectorAll(".js-print").forEach(function (button) {
    button.addEventListener("click", function () { window.print(); });
  });
  // The kiosk's finish screen returns to an empty form on its own, so the next
  // customer never sees the previous one's card.
  var reset = document.querySelector(".js-kiosk-reset");
  if (reset) {
    var seconds = parseInt(reset.getAttribute("data-seconds"), 10) || 45;
    window.setTimeout(function () { window.location.assign(reset.getAttribute("data-reset-url")); }, seconds * 1000);
  }
})();
