/* Small touches for the dashboard pages (no build step). */
(() => {
  "use strict";
  // The menu diagram: pointing at a box shows which box's menu its key belongs to.
  document.querySelectorAll(".levels .box[data-parent]").forEach((box) => {
    const parent = document.getElementById(`box-${box.dataset.parent}`);
    if (!parent) return;
    box.addEventListener("mouseenter", () => parent.classList.add("is-parent"));
    box.addEventListener("mouseleave", () => parent.classList.remove("is-parent"));
  });
})();
