/* The explorer page (book/explorer.md): the distillation scaling law and the compute-optimal planner, run in
   the reader's browser with no server and nothing from another host.

   It ports distill_scaling.laws and the solver of distill_scaling.optimal line by line: the same grids,
   golden-section steps, bounds and FLOP model, all read from explorer-data.json, which the book build
   writes from the package (distill_scaling.explorer). Porting the algorithm rather than calling a generic
   optimiser is what makes the numbers the planner's to the last digit shown; the browser test compares
   them with distill_scaling.planner.plan. Comments name the Python function each part mirrors. */
(function () {
  "use strict";
  const SCRIPT = document.currentScript; // only defined while this file first runs: keep it
  const INV_PHI = (Math.sqrt(5) - 1) / 2;
  const fin = Number.isFinite;
  const clip = (x, lo, hi) => Math.min(Math.max(x, lo), hi); // NaN stays NaN, as with np.clip
  const pow10 = (x) => Math.pow(10, x);
  const linspace = (n) => Array.from({ length: n }, (_, i) => (i === n - 1 ? 1 : i * (1 / (n - 1))));

  // --- The laws (laws.supervised_loss, laws.distillation_loss) -----------------------------------------
  const supervisedLoss = (N, D, c) =>
    c.E + Math.pow(c.A * Math.pow(N, -c.alpha) + c.B * Math.pow(D, -c.beta), c.gamma);
  function logAddExp0(y) { // np.logaddexp(0, y), without overflow
    if (y === 0) return Math.LN2;
    return y > 0 ? y + Math.log1p(Math.exp(-y)) : Math.log1p(Math.exp(y));
  }
  function distillationLoss(NS, DS, LT, d, s) {
    const logRatio = Math.log(LT) - Math.log(supervisedLoss(NS, DS, s) * d.d1);
    const t = d.f1 === 0 ? Math.max(logRatio, 0) : d.f1 * logAddExp0(logRatio / d.f1);
    const mimic = Math.pow(d.A * Math.pow(NS, -d.alpha) + d.B * Math.pow(DS, -d.beta), d.gamma);
    return LT + Math.pow(LT, -d.c0) * Math.exp(-d.c1 * t) * mimic;
  }
  // flops.paper_forward_flops: F(N) = 2N (1 + sigma1 n_ctx N^(-1/3) + sigma2 n_vocab N^(-2/3))
  const forwardFlops = (f) => (N) =>
    2.0 * N * (1.0 + f.sigma1 * f.n_ctx * Math.pow(N, -1.0 / 3.0)
      + f.sigma2 * f.n_vocab * Math.pow(N, -2.0 / 3.0));

  // --- One-dimensional searches (optimal._golden, _grid_brackets, _polish, _minimise) --------------------
  function golden(f, a, b, iters) {
    let c = b - INV_PHI * (b - a), d = a + INV_PHI * (b - a), fc = f(c), fd = f(d);
    for (let i = 0; i < iters; i++) {
      const left = fc <= fd;
      if (left) b = d; else a = c;
      const x = left ? b - INV_PHI * (b - a) : a + INV_PHI * (b - a), fx = f(x);
      if (left) { d = c; c = x; fd = fc; fc = fx; } else { c = d; d = x; fc = fd; fd = fx; }
    }
    return (a + b) / 2;
  }
  const byValue = (key) => (i, j) => (key[i] < key[j] ? -1 : key[i] > key[j] ? 1 : i - j); // stable argsort
  function gridBrackets(X, V, k) { // up to k local minima of the grid, best first, with their neighbours
    const n = V.length, v = V.map((x) => (Number.isNaN(x) ? Infinity : x));
    // A local minimum: no larger than its left neighbour, smaller than its right one (a plateau counts once).
    let isMin = v.map((x, i) => fin(x) && x <= (i > 0 ? v[i - 1] : Infinity) && x < (i < n - 1 ? v[i + 1] : Infinity));
    if (!isMin.some(Boolean)) { const m = Math.min(...v); isMin = v.map((x) => x === m && fin(x)); } // flat to a bound
    const key = v.map((x, i) => (isMin[i] ? x : Infinity));
    return key.map((_, i) => i).sort(byValue(key)).slice(0, k)
      .map((r) => ({ left: X[Math.max(r - 1, 0)], right: X[Math.min(r + 1, n - 1)], found: isMin[r] }));
  }
  function polish(f, left, right, iters) { // golden section, keeping the bracket's ends (a bound stays exact)
    const options = [golden(f, left, right, iters), left, right];
    const values = options.map((x) => { const y = f(x); return Number.isNaN(y) ? Infinity : y; });
    let pick = 0;
    for (let i = 1; i < 3; i++) if (values[i] < values[pick]) pick = i;
    return { x: options[pick], value: values[pick] };
  }
  function minimise(f, lo, hi, grid, iters) {
    const X = linspace(grid).map((t) => lo + (hi - lo) * t);
    const b = gridBrackets(X, X.map(f), 1)[0], r = polish(f, b.left, b.right, iters);
    return { x: r.x, value: b.found ? r.value : Infinity };
  }

  // --- The solver (optimal._iso_loss_range ... _solve); s = (L_T - E)^(1/gamma) -------------------------
  function isoLossRange(s, p) { // log10 N_T range of the teachers within the bounds that reach L_T
    const c = p.sup, rHi = s - c.B * pow10(-c.beta * p.logHi), rLo = s - c.B * pow10(-c.beta * p.logLo);
    const nLo = rHi > 0 ? (Math.log10(c.A) - Math.log10(rHi)) / c.alpha : NaN;
    const nHi = rLo > 0 ? (Math.log10(c.A) - Math.log10(rLo)) / c.alpha : p.logHi;
    return [Math.max(nLo, p.logLo), Math.min(nHi, p.logHi)];
  }
  function teacherLogTokens(logN, s, p) {
    const c = p.sup, r = s - c.A * pow10(-c.alpha * logN);
    return clip(r > 0 ? (Math.log10(c.B) - Math.log10(r)) / c.beta : NaN, p.logLo, p.logHi);
  }
  function studentTokens(logN, logD, p) { // Eq. 9 solved for D_S
    const FT = p.F(pow10(logN));
    return (p.C - p.dp * 3.0 * FT * pow10(logD)) / (3.0 * p.FS + p.dl * FT);
  }
  function innerObjective(logN, s, p) { // -log D_S, or (teacher not counted) the teacher's own compute
    const logD = teacherLogTokens(logN, s, p);
    if (!p.counted) return Math.log10(p.F(pow10(logN))) + logD;
    const DS = studentTokens(logN, logD, p);
    return DS > 0 ? -Math.log10(DS) : Infinity;
  }
  function bestTeacher(s, p, grid, iters) {
    let [lo, hi] = isoLossRange(s, p);
    const ok = fin(lo) && fin(hi) && lo <= hi;
    if (!ok) lo = hi = p.logLo;
    const m = minimise((x) => innerObjective(x, s, p), lo, hi, grid, iters);
    const logN = ok && fin(m.value) ? m.x : NaN, logD = teacherLogTokens(logN, s, p);
    return { logN, logD, DS: p.counted ? studentTokens(logN, logD, p) : p.C / (3.0 * p.FS) };
  }
  function lossGivenTokens(DS, LT, p) { // infeasible (D_S outside the bounds): +Infinity
    const lo = pow10(p.logLo), hi = pow10(p.logHi);
    if (!(fin(DS) && DS >= lo * (1 - 1e-12) && DS <= hi * (1 + 1e-12))) return Infinity;
    return distillationLoss(p.NS, clip(DS, lo, hi), LT, p.dist, p.sup);
  }
  function studentLoss(x, p) { // the outer objective at L_T = E + exp(x)
    const s = Math.exp(x / p.sup.gamma);
    let DS;
    if (p.counted) DS = bestTeacher(s, p, p.search.inner_grid, p.search.inner_iters).DS;
    else { const [lo, hi] = isoLossRange(s, p); DS = fin(lo) && lo <= hi ? p.C / (3.0 * p.FS) : NaN; }
    return lossGivenTokens(DS, p.sup.E + Math.exp(x), p);
  }
  function studentLossOnGrid(x, p, T) { // teacher searched on the grid T only: locates the basins
    const s = Math.exp(x / p.sup.gamma), [lo, hi] = isoLossRange(s, p), LT = p.sup.E + Math.exp(x);
    const ok = fin(lo) && fin(hi) && lo <= hi;
    if (!p.counted) return lossGivenTokens(ok ? p.C / (3.0 * p.FS) : NaN, LT, p);
    let best = -Infinity;
    for (const t of T) {
      const logN = (ok ? lo : p.logLo) + (ok ? hi - lo : 0.0) * t;
      const DS = studentTokens(logN, teacherLogTokens(logN, s, p), p);
      if (ok && !Number.isNaN(DS)) best = Math.max(best, DS);
    }
    return lossGivenTokens(best > 0 ? best : NaN, LT, p);
  }
  function problem(data, set, NS, C, scenario) {
    const sc = data.scenarios[scenario], F = forwardFlops(set.forward_flops);
    return {
      NS, C, FS: F(NS), F, dl: sc.delta_lgt, dp: sc.delta_pre, counted: !!(sc.delta_lgt || sc.delta_pre),
      dist: set.distillation, sup: set.supervised, search: data.search,
      logLo: Math.log10(data.bounds[0]), logHi: Math.log10(data.bounds[1]),
    };
  }
  function computeRange(p) { // optimal.compute_range: the budgets with a feasible plan
    const lo = pow10(p.logLo), Fmin = p.F(lo);
    return [(3.0 * p.FS + p.dl * Fmin) * lo + p.dp * 3.0 * Fmin * lo, 3.0 * p.FS * pow10(p.logHi)];
  }
  function solve(p) { // optimal._solve for one problem
    const S = p.search, E = p.sup.E;
    const xLo = Math.log(supervisedLoss(pow10(p.logHi), pow10(p.logHi), p.sup) - E) + 1e-12;
    const xHi = Math.log(supervisedLoss(pow10(p.logLo), pow10(p.logLo), p.sup) - E);
    const X = linspace(S.outer_grid).map((t) => xLo + (xHi - xLo) * t), T = linspace(S.grid_teachers);
    const polished = gridBrackets(X, X.map((x) => studentLossOnGrid(x, p, T)), S.candidates).map((b) =>
      (b.found ? polish((x) => studentLoss(x, p), b.left, b.right, S.outer_iters) : { x: NaN, value: Infinity }));
    const cands = polished.map((_, i) => i).sort(byValue(polished.map((c) => c.value))).map((i) => polished[i]);
    const best = cands[0], feasible = fin(best.value);
    let alt = { value: Infinity, x: NaN }; // the runner-up local optimum at a clearly different teacher loss
    for (const c of cands.slice(1))
      if (fin(c.value) && Math.abs(Math.exp(c.x) - Math.exp(best.x)) > 1e-3 && c.value < alt.value) alt = c;
    const t = bestTeacher(Math.exp((feasible ? best.x : xHi) / p.sup.gamma), p, S.final_grid, S.final_iters);
    const nan = feasible ? 1.0 : NaN, NT = pow10(t.logN) * nan, DT = pow10(t.logD) * nan, DS = t.DS * nan;
    const FT = p.F(feasible ? NT : 1.0);
    return {
      student_loss: feasible ? best.value : NaN, teacher_loss: feasible ? E + Math.exp(best.x) : NaN,
      student_tokens: DS, teacher_params: NT, teacher_tokens: DT, student_training_flops: 3.0 * p.FS * DS,
      teacher_logits_flops: p.dl * FT * DS, teacher_pretraining_flops: p.dp * 3.0 * FT * DT,
      alternative_student_loss: fin(alt.value) ? alt.value : NaN,
      alternative_teacher_loss: fin(alt.value) ? E + Math.exp(alt.x) : NaN,
    };
  }

  // --- Number formats and the planner's flags (planner.advice_flags) -----------------------------------
  // Python's formats, so that the flags read as the planner's and the numbers as `plan` prints them.
  const expo = (m, e) => m + "e" + (e < 0 ? "-" : "+") + String(Math.abs(e)).padStart(2, "0");
  const strip = (s) => (s.includes(".") ? s.replace(/0+$/, "").replace(/\.$/, "") : s);
  function fmtG(x, digits) { // format(x, f".{digits}g")
    if (!fin(x)) return Number.isNaN(x) ? "nan" : x > 0 ? "inf" : "-inf";
    if (x === 0) return "0";
    const [m, e] = x.toExponential(digits - 1).split("e");
    if (+e < -4 || +e >= digits) return expo(strip(m), +e);
    return strip(x.toFixed(digits - 1 - +e));
  }
  const fmtE0 = (x) => { const [m, e] = x.toExponential(0).split("e"); return expo(m, +e); }; // ".0e"
  const span3 = (span) => `[${fmtG(span[0], 3)}, ${fmtG(span[1], 3)}]`;
  const outside = (v, span, rtol) => !(span[0] * (1 - rtol) <= v && v <= span[1] * (1 + rtol));
  function adviceFlags(data, set, NS, q) {
    const R = data.flag_rules, [lo, hi] = data.bounds, flags = {}, warnings = [];
    const add = (k, why) => (flags[k] = flags[k] || []).push(why);
    for (const k of R.bounded) {
      if (!fin(q[k])) continue;
      if (q[k] <= lo * (1 + R.bound_rtol)) add(k, `on the solver's lower bound ${fmtE0(lo)}`);
      else if (q[k] >= hi * (1 - R.bound_rtol)) add(k, `on the solver's upper bound ${fmtE0(hi)}`);
    }
    for (const [k, [law, what]] of Object.entries(R.range_of)) {
      const span = (set.ranges[law] || {})[what];
      if (span && fin(q[k]) && outside(q[k], span, R.range_rtol))
        add(k, `outside the fitted range ${span3(span)} of the ${law} law`);
    }
    const span = (set.ranges.distillation || {}).n_params;
    if (span && outside(NS, span, R.range_rtol))
      warnings.push(`student_params = ${fmtG(NS, 3)} lies outside the range ${span3(span)} the '${set.name}' ` +
        "coefficients were fitted on: every number is an extrapolation");
    return { flags, warnings };
  }

  // --- What the page shows: the law at the sliders, and the plan (planner.plan, plan_quantities) --------
  function plan(data, setName, NS, C, scenario) {
    const set = data.sets[setName], p = problem(data, set, NS, C, scenario), [low, high] = computeRange(p);
    if (!(C >= low && C <= high)) // the planner refuses such a budget (optimal._check_budget)
      return { error: `compute = ${fmtG(C, 3)} FLOPs is outside the budgets that can train this student in ` +
        `this scenario, ${span3([low, high])} FLOPs`, quantities: {}, flags: {}, warnings: [] };
    const o = solve(p), supTokens = C / (3.0 * p.FS), supLoss = supervisedLoss(NS, supTokens, set.supervised);
    const q = {
      teacher_params: o.teacher_params, teacher_tokens: o.teacher_tokens, teacher_loss: o.teacher_loss,
      student_tokens: o.student_tokens, student_loss: o.student_loss, supervised_tokens: supTokens,
      supervised_loss: supLoss, advantage: supLoss - o.student_loss,
    };
    for (const k of ["student_training", "teacher_logits", "teacher_pretraining"]) {
      q[k + "_flops"] = o[k + "_flops"];
      q[k + "_fraction"] = o[k + "_flops"] / C;
    }
    return { error: null, quantities: q, optimum: o, problem: p, ...adviceFlags(data, set, NS, q) };
  }
  function lawAt(data, setName, NS, DS, LT) { // the law panel, its inputs checked against the fitted ranges
    const set = data.sets[setName], r = set.ranges.distillation || {}, flags = {};
    for (const [k, v, span] of [["N_S", NS, r.n_params], ["D_S", DS, r.tokens], ["L_T", LT, r.teacher_loss]])
      if (span && outside(v, span, data.flag_rules.range_rtol))
        flags[k] = `outside the fitted range ${span3(span)} of the distillation law`;
    return {
      student_loss: distillationLoss(NS, DS, LT, set.distillation, set.supervised),
      supervised_loss: supervisedLoss(NS, DS, set.supervised), flags,
    };
  }

  // --- A small SVG line chart: its viewBox scales it to the column --------------------------------------
  const SVGNS = "http://www.w3.org/2000/svg", W = 600, H = 330, M = { l: 66, r: 12, t: 12, b: 52 };
  function svg(tag, attrs, parent, text) {
    const e = document.createElementNS(SVGNS, tag);
    for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
    if (text !== undefined) e.textContent = text;
    if (parent) parent.appendChild(e);
    return e;
  }
  function ticks(lo, hi) { // about five round values
    const raw = (hi - lo) / 5, mag = pow10(Math.floor(Math.log10(raw)));
    const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw), out = [];
    for (let v = Math.ceil(lo / step) * step; v <= hi + 1e-9 * step; v += step) out.push(+v.toPrecision(12));
    return out;
  }
  // c: {x, y (the curve), hline (a dashed level), points: [{x, y, cls}], xLabel, yLabel}
  function drawChart(box, c) {
    box.replaceChildren();
    const ys = [...c.y, c.hline, ...c.points.map((p) => p.y)].filter(fin);
    if (!ys.length) return;
    const pad = (Math.max(...ys) - Math.min(...ys) || 1) * 0.06, y0 = Math.min(...ys) - pad, y1 = Math.max(...ys) + pad;
    const x0 = c.x[0], x1 = c.x[c.x.length - 1], bottom = H - M.b, right = W - M.r;
    const sx = (x) => M.l + ((x - x0) / (x1 - x0)) * (right - M.l);
    const sy = (y) => bottom - ((y - y0) / (y1 - y0)) * (bottom - M.t);
    const axes = svg("g", {}, box);
    for (const v of ticks(x0, x1)) {
      svg("line", { x1: sx(v), x2: sx(v), y1: M.t, y2: bottom, class: "grid" }, axes);
      svg("text", { x: sx(v), y: bottom + 18, "text-anchor": "middle" }, axes, fmtG(v, 4));
    }
    for (const v of ticks(y0, y1)) {
      svg("line", { x1: M.l, x2: right, y1: sy(v), y2: sy(v), class: "grid" }, axes);
      svg("text", { x: M.l - 6, y: sy(v) + 4, "text-anchor": "end" }, axes, fmtG(v, 4));
    }
    const mid = (M.t + bottom) / 2;
    svg("text", { x: (M.l + right) / 2, y: H - 8, "text-anchor": "middle" }, axes, c.xLabel);
    svg("text", { x: 14, y: mid, "text-anchor": "middle", transform: `rotate(-90 14 ${mid})` }, axes, c.yLabel);
    const plot = svg("svg", { x: M.l, y: M.t, width: right - M.l, height: bottom - M.t, overflow: "hidden" }, box);
    const px = (x) => sx(x) - M.l, py = (y) => sy(y) - M.t; // inside the nested svg, which clips the curves
    if (fin(c.hline))
      svg("line", { x1: 0, x2: right - M.l, y1: py(c.hline), y2: py(c.hline), class: "ex-supervised" }, plot);
    // A gap in the curve where it is not finite (no teacher within the bounds reaches that loss).
    const d = c.y.map((y, i) =>
      (fin(y) ? `${fin(c.y[i - 1]) ? "L" : "M"}${px(c.x[i]).toFixed(1)},${py(y).toFixed(1)}` : ""));
    svg("path", { d: d.join(""), class: "ex-curve" }, plot);
    for (const p of c.points)
      if (fin(p.x) && fin(p.y)) svg("circle", { cx: px(p.x), cy: py(p.y), r: 5, class: p.cls }, plot);
  }

  // --- The page -------------------------------------------------------------------------------------------
  const api = (window.explorer = { supervisedLoss, distillationLoss, plan, lawAt, fmtG, updates: 0 });
  const LOG = { student_params: true, student_tokens: true, teacher_loss: false, compute: true }; // slider scales
  const LABELS = {
    student_params: "student size N_S (parameters)", student_tokens: "student tokens D_S",
    teacher_loss: "teacher loss L_T (nats)", compute: "budget C (FLOPs)",
  };
  function h(tag, props, parent, text) { // an HTML element
    const e = Object.assign(document.createElement(tag), props);
    if (text !== undefined) e.textContent = text;
    if (parent) parent.appendChild(e);
    return e;
  }

  function build(root, data) {
    const state = { set: Object.keys(data.sets)[0] }, inputs = {};
    root.replaceChildren();
    const top = h("div", { className: "ex-controls" }, root);
    const choice = (name, label, options) => {
      const sel = h("select", { name }, h("label", { className: "ex-field" }, top, label));
      for (const [value, text] of options) h("option", { value }, sel, text);
      sel.addEventListener("change", () => { state[name] = sel.value; if (name === "set") reset(); update(); });
      return sel;
    };
    const setSel = choice("set", "coefficients", Object.keys(data.sets).map((k) => [k, k]));
    const scenarioSel = choice("scenario", "scenario", Object.entries(data.scenarios).map(([k, v]) => [k, v.label]));
    const desc = h("p", { className: "ex-note" }, root);
    for (const [name, why] of Object.entries(data.unavailable))
      h("p", { className: "ex-note" }, root, `Not offered: ${name} (${why}).`);
    const field = (name, parent) => { // a slider (log10 of sizes, tokens and FLOPs) and a text box for exact values
      const box = h("label", { className: "ex-field" }, parent, LABELS[name]);
      const range = h("input", { type: "range", step: "any", name: name + "-slider" }, box);
      const text = h("input", { type: "text", name, inputMode: "decimal" }, box);
      range.addEventListener("input", () => {
        state[name] = LOG[name] ? pow10(+range.value) : +range.value;
        update();
      });
      text.addEventListener("change", () => { // a value that is not a positive number is put back
        const v = Number(text.value);
        if (v > 0 && fin(v)) state[name] = v;
        update();
      });
      inputs[name] = { range, text };
    };
    const panel = (title, names, legend) => {
      const box = h("section", { className: "ex-panel" }, root);
      h("h3", {}, box, title);
      const controls = h("div", { className: "ex-controls" }, box);
      names.forEach((n) => field(n, controls));
      const readout = h("div", { className: "ex-readout" }, box);
      const chart = svg("svg", { viewBox: `0 0 ${W} ${H}`, class: "ex-chart", role: "img", "aria-label": title }, box);
      h("p", { className: "ex-legend" }, box, legend);
      return { readout, chart };
    };
    const law = panel("The law: student loss against teacher loss",
      ["student_params", "student_tokens", "teacher_loss"],
      "Solid: the distilled student's loss for each teacher loss. Dashed: the same student trained alone on the same " +
      "tokens. Dot: the teacher loss of the slider.");
    const planned = panel("The compute-optimal plan for this student", ["compute"],
      "Solid: the student's loss with the best teacher for each teacher loss, within the budget (what the solver " +
      "compares). Dashed: the student trained alone with the whole budget. Dot: the plan. Ring: the law's other " +
      "local optimum, where it has one.");
    const table = h("table", { className: "ex-table" }, planned.readout.parentNode);
    planned.readout.parentNode.insertBefore(table, planned.chart);

    function reset() { // a set's own scale: its defaults and slider ends, from the exported data
      const c = data.sets[state.set].controls;
      for (const k of ["scenario", "student_params", "student_tokens", "teacher_loss", "compute"]) state[k] = c[k];
      for (const [n, [lo, hi]] of Object.entries(c.sliders))
        Object.assign(inputs[n].range, LOG[n] ? { min: Math.log10(lo), max: Math.log10(hi) } : { min: lo, max: hi });
    }
    function update() {
      const set = data.sets[state.set];
      const lawNow = lawAt(data, state.set, state.student_params, state.student_tokens, state.teacher_loss);
      const res = plan(data, state.set, state.student_params, state.compute, state.scenario);
      setSel.value = state.set;
      scenarioSel.value = state.scenario;
      desc.textContent = set.description;
      // The budget slider spans the budgets the planner accepts for this student in this scenario.
      const [lo, hi] = computeRange(problem(data, set, state.student_params, state.compute, state.scenario));
      Object.assign(inputs.compute.range, { min: Math.log10(lo), max: Math.log10(hi) });
      for (const [n, io] of Object.entries(inputs)) {
        io.range.value = LOG[n] ? Math.log10(state[n]) : state[n];
        io.text.value = fmtG(state[n], 4);
      }
      law.readout.replaceChildren();
      h("p", {}, law.readout, `L_S = ${fmtG(lawNow.student_loss, 4)} nats distilled, ` +
        `${fmtG(lawNow.supervised_loss, 4)} nats trained alone on the same tokens.`);
      for (const [k, why] of Object.entries(lawNow.flags))
        h("p", { className: "ex-warning" }, law.readout, `⚠ ${k} ${why}`);
      drawLaw(law.chart, set, state, lawNow);
      showPlan(planned.readout, table, data, state, res);
      drawProfile(planned.chart, data, res);
      api.result = {
        inputs: { ...state }, law: lawNow,
        plan: { error: res.error, quantities: res.quantities, flags: res.flags, warnings: res.warnings },
      };
      root.dataset.updates = ++api.updates;
    }
    api.set = (values) => { // for scripts and tests: set any inputs at once, as the controls do
      if (values.set && values.set !== state.set) { state.set = values.set; reset(); }
      Object.assign(state, values);
      update();
      return api.result;
    };
    reset();
    update();
  }
  function showPlan(readout, table, data, state, res) { // the verdict, the warnings, and the plan's quantities
    readout.replaceChildren();
    table.replaceChildren();
    if (res.error) { h("p", { className: "ex-error" }, readout, res.error); return; }
    const q = res.quantities;
    h("p", {}, readout, `${data.scenarios[state.scenario].label}: ` +
      `${q.advantage > 0 ? "distillation" : "supervised training"} gives the lower loss at this budget, by ` +
      `${fmtG(Math.abs(q.advantage), 4)} nats.` + (state.scenario === "best-case" ? " The teacher costs nothing, " +
      "so its size and tokens are not identified: shown is the supervised compute-optimal teacher reaching L_T." : ""));
    for (const w of res.warnings) h("p", { className: "ex-warning" }, readout, "⚠ " + w);
    for (const [k, meta] of Object.entries(data.quantities)) {
      const tr = h("tr", { className: res.flags[k] ? "ex-flagged" : "" }, table);
      const label = h("td", { title: meta.unit }, tr, meta.label);
      for (const why of res.flags[k] || []) h("span", { className: "ex-why" }, label, "⚠ " + why);
      const shown = k.endsWith("_fraction") ? fmtG(100 * q[k], 4) + " %" : fmtG(q[k], 4);
      Object.assign(h("td", { className: "ex-value" }, tr, shown).dataset, { quantity: k, value: String(q[k]) });
    }
  }
  function drawLaw(box, set, st, law) { // L_S(L_T) at the sliders' N_S and D_S, past where the teacher stops helping
    const lo = Math.max(set.supervised.E, 1e-3), hi = Math.max(1.15 * set.distillation.d1 * law.supervised_loss,
      1.05 * st.teacher_loss, 1.5 * lo);
    const x = linspace(200).map((t) => lo + (hi - lo) * t);
    const y = x.map((LT) =>
      distillationLoss(st.student_params, st.student_tokens, LT, set.distillation, set.supervised));
    drawChart(box, { x, y, hline: law.supervised_loss, xLabel: "teacher loss L_T (nats)",
      yLabel: "student loss L_S (nats)", points: [{ x: st.teacher_loss, y: law.student_loss, cls: "ex-point" }] });
  }
  function drawProfile(box, data, res) { // optimal.loss_profile around the optimum, as the planner chapter draws it
    if (res.error || !fin(res.optimum.teacher_loss)) { box.replaceChildren(); return; }
    const p = res.problem, o = res.optimum, E = p.sup.E, S = data.search;
    const lo = Math.max(E + 0.02, o.teacher_loss - 0.6), hi = o.teacher_loss + 0.6;
    const x = linspace(121).map((t) => lo + (hi - lo) * t);
    const y = x.map((LT) => lossGivenTokens(
      bestTeacher(Math.exp(Math.log(LT - E) / p.sup.gamma), p, S.final_grid, S.final_iters).DS, LT, p));
    drawChart(box, { x, y, hline: res.quantities.supervised_loss, xLabel: "teacher loss L_T (nats)",
      yLabel: "student loss L_S (nats)", points: [{ x: o.teacher_loss, y: o.student_loss, cls: "ex-point" },
        { x: o.alternative_teacher_loss, y: o.alternative_student_loss, cls: "ex-alt" }] });
  }

  function start() {
    const root = document.getElementById("distill-explorer");
    if (!root) return; // loaded on a bare page (tests): the functions above are all there is
    const url = new URL("explorer-data.json", SCRIPT.src); // beside this script, in _static/
    fetch(url)
      .then((r) => { if (!r.ok) throw new Error(`HTTP ${r.status} for ${url}`); return r.json(); })
      .then((data) => {
        if (data.format !== "distill_scaling/explorer/1") throw new Error(`unknown data format ${data.format}`);
        api.data = data;
        build(root, data);
      })
      .catch((err) => {
        root.textContent = `The explorer could not load its data (${err.message}). ` + (location.protocol === "file:"
          ? "Browsers do not let a page opened from a file read other files: serve the site " +
            "(python -m http.server --directory _build/html) and open it from there." : "");
      });
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start); else start();
})();
