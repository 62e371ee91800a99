// Small behaviours shared by every page. No inline scripts anywhere (CSP).
(function () {
  "use strict";
  // Forms marked js-autosubmit submit when a select changes (store and language switchers).
  document.querySelectorAll("form.js-autosubmit select").forEach(function (select) {
    select.addEventListener("change", function () { select.form.submit(); });
  });
})();
