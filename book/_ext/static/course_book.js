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
