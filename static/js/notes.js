// Notes screens: "select all" for bulk ticks, and filters that apply on change.
(function () {
  "use strict";
  document.querySelectorAll(".js-select-all").forEach(function (box) {
    box.addEventListener("change", function () {
      document.querySelectorAll(".js-note-check").forEach(function (check) { check.checked = box.checked; });
    });
  });
  document.querySelectorAll(".js-autosubmit").forEach(function (select) {
    select.addEventListener("change", function () { select.form.submit(); });
  });
})();
