/* Small conveniences; every page works without them. */
(function () {
  "use strict";
  // One click anywhere on a queue row opens the alert (the name is also a plain link).
  document.querySelectorAll("table.queue tbody tr").forEach(function (row) {
    var link = row.querySelector("a.open");
    if (!link) { return; }
    row.addEventListener("click", function (e) {
      if (e.target.closest("a, button, input, select, textarea")) { return; }
      if (window.getSelection && String(window.getSelection())) { return; }
      window.location.href = link.href;
    });
  });
  // Forms with data-confirm ask before posting (expire, disable).
  document.querySelectorAll("form[data-confirm]").forEach(function (form) {
    form.addEventListener("submit", function (e) {
      if (!window.confirm(form.dataset.confirm)) { e.preventDefault(); }
    });
  });
})();
