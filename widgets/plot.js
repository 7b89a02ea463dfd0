// The view of fdlf_widgets.plot.Plot: draws the figure JSON the kernel syncs with plotly.js.
//
// plotly.js (about 5 MB) is evaluated once per page, from the source the kernel sends once (the PlotlyJS
// widget the `_plotly` trait refers to), so there is no network request and nothing large is parsed while
// a model initializes (anywidget drops every later message to a model that takes over 2 s to initialize,
// which is what froze plotly FigureWidgets; docs/benchmarks.md, "Why not FigureWidget").

const PREFIX = "IPY_MODEL_";

function loadPlotly(model) {
  if (!globalThis.__fdlfPlotly) {
    globalThis.__fdlfPlotly = (async () => {
      const loader = await model.widget_manager.get_model(model.get("_plotly").slice(PREFIX.length));
      const module = { exports: {} };
      new Function("module", "exports", loader.get("source"))(module, module.exports);
      return module.exports;
    })();
    globalThis.__fdlfPlotly.catch(() => { delete globalThis.__fdlfPlotly; }); // a later view tries again
  }
  return globalThis.__fdlfPlotly;
}

function render({ model, el }) {
  let Plotly = null;
  // Draws run one after another, each with the figure as it is then, so the last one shows the last state.
  let queue = Promise.resolve();
  const draw = () => {
    queue = queue.then(() => {
      const figure = JSON.parse(model.get("figure_json"));
      return Plotly.react(el, figure.data || [], figure.layout || {}, { displaylogo: false });
    }).catch((error) => console.error("fdlf plot: could not draw", error));
  };
  model.on("change:figure_json", () => { if (Plotly) draw(); });
  loadPlotly(model).then((loaded) => {
    Plotly = loaded;
    draw();
    queue.then(() => el.on("plotly_click", (event) => model.send({
      event: "click",
      points: event.points.map((p) => ({ curve: p.curveNumber, x: p.x, y: p.y, index: p.pointIndex ?? p.pointNumber })),
    })));
  }).catch((error) => {
    el.textContent = `plotly.js could not be loaded: ${error}`;
  });
  return () => { if (Plotly) Plotly.purge(el); };
}

export default { render };
