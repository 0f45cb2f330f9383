// A little plain JS on top of htmx: "select all" for the bulk review, the selected count, printing, and a
// message when an in-place action fails (an expired sign-in, a server error). Everything works without it.
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
  document.addEventListener("htmx:afterSwap", updateCount);
  document.addEventListener("htmx:responseError", function () {
    var box = document.getElementById("messages");
    if (!box) return;
    var p = document.createElement("p");
    p.className = "msg error";
    p.textContent = document.body.getAttribute("data-error-text") || "操作失败";
    box.replaceChildren(p);
  });
})();
