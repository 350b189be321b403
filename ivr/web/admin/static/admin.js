/* Small touches for the dashboard pages (no build step). */
(() => {
  "use strict";
  // The menu diagram: click to switch between fitting the page and Graphviz's own size,
  // keeping the clicked spot in view.
  const frame = document.querySelector(".diagram-frame");
  if (frame) {
    const img = frame.querySelector("img");
    img.addEventListener("click", (ev) => {
      const rect = img.getBoundingClientRect();
      const fx = (ev.clientX - rect.left) / rect.width;
      const fy = (ev.clientY - rect.top) / rect.height;
      frame.classList.toggle("zoomed");
      if (frame.classList.contains("zoomed")) {
        frame.scrollLeft = fx * img.offsetWidth - frame.clientWidth / 2;
        frame.scrollTop = fy * img.offsetHeight - frame.clientHeight / 2;
      }
    });
  }
})();
