// Click a figure to see it at full resolution: an overlay with the PNG at its own size (scrollable when it is
// larger than the window); a click anywhere or Escape closes it. No dependencies, works offline.
(function () {
  "use strict";
  function close(overlay) {
    overlay.remove();
    document.removeEventListener("keydown", overlay._onKey);
  }
  function open(img) {
    const overlay = document.createElement("div");
    overlay.className = "ds-enlarged";
    overlay.setAttribute("role", "dialog");
    overlay.setAttribute("aria-label", "Figure at full resolution (click or press Escape to close)");
    const big = document.createElement("img");
    big.src = img.currentSrc || img.src;
    big.alt = img.alt;
    overlay.appendChild(big);
    overlay.addEventListener("click", () => close(overlay));
    overlay._onKey = (e) => { if (e.key === "Escape") close(overlay); };
    document.addEventListener("keydown", overlay._onKey);
    document.body.appendChild(overlay);
  }
  document.addEventListener("DOMContentLoaded", () => {
    document.querySelectorAll("main figure img, main .cell_output img").forEach((img) => {
      if (img.closest("a")) return; // already a link
      img.classList.add("ds-enlargeable");
      img.title = img.title || "Click to enlarge";
      img.addEventListener("click", () => open(img));
    });
  });
})();
