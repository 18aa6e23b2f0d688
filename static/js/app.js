/* Lifecycle CRM — small behaviour shared by every page (no framework, no network). */
(function () {
  "use strict";
  var narrow = window.matchMedia("(max-width: 640px)");

  // The top bar's menu button (phone width): opens and closes the navigation as one list.
  document.querySelectorAll("[data-menu-toggle]").forEach(function (button) {
    var bar = button.closest("[data-topbar]");
    button.addEventListener("click", function () {
      var open = bar.classList.toggle("menu-open");
      button.setAttribute("aria-expanded", open ? "true" : "false");
    });
    document.addEventListener("keydown", function (event) {
      if (event.key === "Escape" && bar.classList.contains("menu-open")) {
        bar.classList.remove("menu-open");
        button.setAttribute("aria-expanded", "false");
        button.focus();
      }
    });
  });

  // Tables become stacked cards at phone width: each cell carries its column's name to show beside it.
  function labelCells(root) {
    (root.querySelectorAll ? root : document).querySelectorAll("table").forEach(function (table) {
      if (table.dataset.labelled) return;
      var head = table.tHead && table.tHead.rows[table.tHead.rows.length - 1];
      if (!head) return;
      var names = [];
      Array.prototype.forEach.call(head.cells, function (cell) {
        var span = cell.colSpan || 1;
        var text = (cell.dataset.label || cell.textContent || "").trim();
        for (var i = 0; i < span; i++) names.push(text);
      });
      Array.prototype.forEach.call(table.tBodies, function (body) {
        Array.prototype.forEach.call(body.rows, function (row) {
          var col = 0;
          Array.prototype.forEach.call(row.cells, function (cell) {
            if (!cell.hasAttribute("data-label") && names[col]) cell.setAttribute("data-label", names[col]);
            col += cell.colSpan || 1;
          });
        });
      });
      table.dataset.labelled = "1";
      table.classList.add("stacks");
    });
  }
  labelCells(document);
  // Tables that arrive later (the overview's charts, the quick log's timeline) get their labels too.
  new MutationObserver(function (records) {
    records.forEach(function (r) {
      r.addedNodes.forEach(function (n) { if (n.nodeType === 1) labelCells(n.tagName === "TABLE" ? n.parentNode : n); });
    });
  }).observe(document.body, { childList: true, subtree: true });

  // Filter boxes fold away on a phone unless a filter is in use, so the content comes first.
  document.querySelectorAll("details[data-fold-phone]").forEach(function (box) {
    if (narrow.matches && box.dataset.active !== "true" && !box.querySelector(".form-errors")) box.open = false;
  });
})();
