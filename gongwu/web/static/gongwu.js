// A little plain JS on top of htmx: "select all" for the bulk review, the selected count, printing, a
// message when an in-place action fails (an expired sign-in, a server error), and the lists' phone cards
// (each cell labelled by its column, so a row reads as a card at 390 px). Everything works without it: a
// table then scrolls inside its own box.
(function () {
  "use strict";
  function updateCount() {
    var out = document.getElementById("selected-count");
    if (out) out.textContent = document.querySelectorAll('input[name="ids"][form="bulk"]:checked').length;
  }
  document.addEventListener("change", function (e) {
    var el = e.target;
    if (el.id === "select-all") {
      document.querySelectorAll('input[name="ids"][form="bulk"]').forEach(function (box) { box.checked = el.checked; });
    }
    if (el.id === "select-all" || (el.name === "ids" && el.getAttribute("form") === "bulk")) updateCount();
  });
  document.addEventListener("click", function (e) {
    if (e.target.matches && e.target.matches("[data-print]")) window.print();
  });
  function labelCells() {
    document.querySelectorAll("table.grid:not(.no-cards)").forEach(function (table) {
      var heads = Array.prototype.map.call(table.querySelectorAll("thead tr:first-child th"), function (th) {
        return th.textContent.replace(/[\u25b2\u25bc]/g, "").trim();  // not the sort arrow
      });
      // a sortable list keeps its sort links on a phone, as a row of buttons above the cards
      var head = table.querySelector("thead tr:first-child");
      if (head && head.querySelector("a.sort")) {
        head.parentNode.classList.add("sortable");
        head.setAttribute("data-label", document.documentElement.lang === "en" ? "Sort by" : "排序");
      }
      table.querySelectorAll("tbody tr, tfoot tr").forEach(function (tr) {
        var i = 0;
        Array.prototype.forEach.call(tr.children, function (cell) {
          var span = cell.colSpan || 1;
          if (span === 1 && heads[i] && !cell.hasAttribute("data-label")) cell.setAttribute("data-label", heads[i]);
          i += span;
        });
      });
      table.classList.add("cards");
    });
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", labelCells);
  else labelCells();
  document.addEventListener("htmx:afterSwap", updateCount);
  document.addEventListener("htmx:afterSettle", labelCells);
  document.addEventListener("htmx:responseError", function () {
    var box = document.getElementById("messages");
    if (!box) return;
    var p = document.createElement("p");
    p.className = "msg error";
    p.textContent = document.body.getAttribute("data-error-text") || "操作失败";
    box.replaceChildren(p);
  });
})();
