// Clicking anywhere on the title bar of a folded solution opens it.
// sphinx-exercise writes the title as a link back to the exercise; without
// this, a click on the title's text would jump to the exercise (and
// sphinx-togglebutton would not find its button) instead of showing the
// solution.
document.addEventListener(
  "click",
  (event) => {
    const link = event.target.closest(".solution.dropdown > .admonition-title a");
    if (!link) return;
    const button = link.closest(".admonition-title").querySelector(".toggle-button");
    if (!button) return;
    event.preventDefault();
    event.stopPropagation();
    button.click();
  },
  true,
);

// Name each toggle button after what it opens. sphinx-togglebutton names every
// one "Toggle hidden content", which tells a screen-reader user neither what
// is hidden nor which of the page's solutions it is. The button says whether
// it is open (aria-expanded); its name says what it opens, e.g. "Solution to
// Exercise 2 (Two bias frames)". sphinx-togglebutton adds the buttons when the
// page has loaded, so this runs just after that.
function nameToggleButtons() {
  document.querySelectorAll(".toggle-button[data-target]").forEach((button) => {
    const item = document.getElementById(button.dataset.target);
    const title = item && item.querySelector(":scope > .admonition-title");
    const text = title ? title.textContent.replace(/\s+/g, " ").trim() : "";
    if (!text) return;
    button.setAttribute("aria-label", text);
    button.setAttribute("aria-controls", item.id);
  });
}

if (document.readyState === "loading") {
  document.addEventListener("DOMContentLoaded", () => setTimeout(nameToggleButtons, 0));
} else {
  setTimeout(nameToggleButtons, 0);
}

// On a narrow screen a figure keeps its size and its output area scrolls
// sideways (course_book.css). A region that scrolls must be reachable from
// the keyboard, so it joins the tab order while, and only while, it scrolls.
function focusableScrollingFigures() {
  document.querySelectorAll(".cell_output").forEach((output) => {
    const image = output.querySelector(":scope > img");
    if (!image) return;
    if (output.scrollWidth > output.clientWidth + 1) {
      output.setAttribute("tabindex", "0");
      output.setAttribute("role", "group");
      output.setAttribute("aria-label", "Figure (scrolls sideways)");
    } else {
      output.removeAttribute("tabindex");
      output.removeAttribute("role");
      output.removeAttribute("aria-label");
    }
  });
}

window.addEventListener("load", focusableScrollingFigures);
window.addEventListener("resize", focusableScrollingFigures);
document.addEventListener(
  "load",
  (event) => {
    if (event.target.tagName === "IMG") focusableScrollingFigures();
  },
  true,
);
