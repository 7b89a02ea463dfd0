// The view of fdlf_widgets.copy_line.CopyLine: a line of code the user can select, and a button that copies it.

function render({ model, el }) {
  el.classList.add("fdlf-copy-line");
  el.style.display = "flex";
  el.style.alignItems = "center";
  el.style.gap = "0.5em";
  const label = document.createElement("span");
  const code = document.createElement("code");
  const button = document.createElement("button");
  code.style.userSelect = "all";  // one click selects the whole line, for a manual copy
  code.style.whiteSpace = "pre-wrap";
  code.style.flex = "1 1 auto";
  button.className = "jupyter-button";
  button.style.flex = "0 0 auto";  // the code wraps, the button keeps its label
  const show = () => {
    label.textContent = model.get("description");
    code.textContent = model.get("value");
    button.textContent = "copy";
  };
  button.addEventListener("click", async () => {
    try {
      await navigator.clipboard.writeText(model.get("value"));
      button.textContent = "copied";
    } catch (error) {  // no clipboard access (an insecure origin, or denied): the line stays selectable
      button.textContent = "select the line and copy it";
    }
  });
  model.on("change:value", show);
  show();
  el.append(label, code, button);
}

export default { render };
