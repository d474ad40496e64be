"use strict";
// Loaded first in <head>, without defer, so the saved theme is on <html> before anything is painted.
// The choice is kept in localStorage under "theme" ("auto", "light" or "dark"): the same key and values
// as Django admin's own theme switch, so the app and the admin share one setting per browser.
//   html[data-theme]        the choice ("auto" follows the system setting)
//   html[data-color-scheme] what is shown now, "light" or "dark": app.css keys its dark colours on this
// common.js wires the theme menu in the top bar to window.exaoneTheme.
(function () {
  const root = document.documentElement;
  const system = window.matchMedia ? window.matchMedia("(prefers-color-scheme: dark)") : null;
  const CHOICES = ["auto", "light", "dark"];

  function saved() {
    try {
      const value = window.localStorage.getItem("theme");
      return CHOICES.indexOf(value) >= 0 ? value : "auto";
    } catch (err) {
      return "auto";   // storage blocked (private mode, policies): follow the system
    }
  }

  function apply(choice) {
    const dark = choice === "dark" || (choice === "auto" && !!system && system.matches);
    root.dataset.theme = choice;
    root.dataset.colorScheme = dark ? "dark" : "light";
  }

  apply(saved());
  if (system) {
    system.addEventListener("change", function () { apply(saved()); });
  }
  // Changed in another tab, or in the admin.
  window.addEventListener("storage", function (ev) { if (ev.key === "theme") apply(saved()); });

  window.exaoneTheme = {
    choices: CHOICES,
    current: saved,
    set: function (choice) {
      if (CHOICES.indexOf(choice) < 0) choice = "auto";
      try { window.localStorage.setItem("theme", choice); } catch (err) { /* kept for this page only */ }
      apply(choice);
    },
  };
})();
