// The gatehouse console's one script: progressive only, every page works
// without it. It leaves empty filters out of the audit page's address and
// makes "Back" links go back.
"use strict";
document.addEventListener("DOMContentLoaded", function () {
  document.querySelectorAll("form[method=get]").forEach(function (form) {
    form.addEventListener("submit", function () {
      form.querySelectorAll("input, select").forEach(function (control) {
        if (control.name && control.value === "") control.disabled = true;
      });
    });
  });
  // Coming back to the page (the back-forward cache), its fields work again.
  window.addEventListener("pageshow", function () {
    document.querySelectorAll("form[method=get] [disabled]").forEach(function (control) {
      control.disabled = false;
    });
  });
  document.querySelectorAll("a[data-back]").forEach(function (link) {
    if (window.history.length > 1) {
      link.addEventListener("click", function (event) {
        event.preventDefault();
        window.history.back();
      });
    }
  });
});
