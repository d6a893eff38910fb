// credsim's web page: the form, a run's live progress, its report, the pinned comparison and
// the history of runs. Every piece of text from the server is put on the page with
// textContent, never as HTML. Each run has an address (#run=<id>); the pinned run is kept in
// localStorage, so that both survive a reload.
"use strict";

(function () {
  var POLL_MS = 300;
  var scenarios = {};      // name -> {name, description, parameters, error?}
  var current = null;      // {id, request, state}
  var pinned = null;       // {id, request}
  var pollTimer = null;
  var timing = null;       // the server's time model (credsim.web.estimate)
  var PIN_KEY = "credsim.pinned";

  function $(id) { return document.getElementById(id); }

  // ------------------------------------------------------------------ numbers

  function formatValue(parameter, value) {
    if (parameter.kind === "int") { return String(Math.round(value)); }
    var text = String(Number(value));
    if (text.indexOf("e") >= 0) { text = Number(value).toFixed(8).replace(/0+$/, "").replace(/\.$/, ""); }
    return text;
  }

  function withCommas(n) { return Number(n).toLocaleString("en-US", { maximumFractionDigits: 8 }); }

  // Sliders of a "log" parameter move through orders of magnitude (100 to 2,000,000 people):
  // the slider holds a position in [0, LOG_STEPS], the field the value.
  var LOG_STEPS = 1000;

  function toSlider(parameter, value) {
    if (parameter.scale !== "log") { return value; }
    var low = Math.log(parameter.min), high = Math.log(parameter.max);
    var clamped = Math.min(Math.max(value, parameter.min), parameter.max);
    return Math.round(LOG_STEPS * (Math.log(clamped) - low) / (high - low));
  }

  function fromSlider(parameter, position) {
    if (parameter.scale !== "log") { return Number(position); }
    var low = Math.log(parameter.min), high = Math.log(parameter.max);
    var value = Math.exp(low + (high - low) * Number(position) / LOG_STEPS);
    var unit = Math.pow(10, Math.max(0, Math.floor(Math.log10(value)) - 1));  // two significant digits
    return Math.min(Math.max(Math.round(value / unit) * unit, parameter.min), parameter.max);
  }

  // What the user typed: a number when it reads as one, otherwise the text itself, so that the
  // server (which checks everything) answers with a message that names the field.
  function readValue(text) {
    var plain = String(text).trim().replace(/[,_\s]/g, "");
    if (/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(plain)) { return Number(plain); }
    return String(text);
  }

  // ------------------------------------------------------------------ the form

  function renderScenarioList(list, chosen) {
    var select = $("scenario");
    select.textContent = "";
    list.forEach(function (entry) {
      scenarios[entry.name] = entry;
      var option = document.createElement("option");
      option.value = entry.name;
      option.textContent = entry.name + (entry.error ? " (does not load)" : "");
      select.appendChild(option);
    });
    select.value = chosen in scenarios ? chosen : list[0].name;
    select.disabled = false;
    renderParameters();
  }

  // Switching scenario while a run is pinned keeps People (and Days), so that the next run is
  // compared at the same size; the Reset button goes back to the scenario's values.
  function switchScenario() {
    var kept = pinned ? { "population.size": fieldValue("population.size"), "population.days": fieldValue("population.days") } : {};
    renderParameters();
    Object.keys(kept).forEach(function (path) { if (kept[path] !== null) { setField(path, kept[path]); } });
    updateEstimate();
  }

  function fieldValue(path) {
    var field = document.querySelector('input.value[data-path="' + path + '"]');
    return field ? field.value : null;
  }

  function setField(path, text) {
    var field = document.querySelector('input.value[data-path="' + path + '"]');
    if (!field) { return; }
    field.value = text;
    field.dispatchEvent(new Event("input"));
  }

  function renderParameters() {
    var entry = scenarios[$("scenario").value];
    $("scenario-description").textContent = entry.error ? entry.error : entry.description;
    var holder = $("parameters");
    holder.textContent = "";
    clearErrors();
    if (entry.error) { $("run-button").disabled = true; return; }
    $("run-button").disabled = false;
    var sections = {};
    entry.parameters.forEach(function (parameter, index) {
      if (!sections[parameter.section]) {
        var fieldset = document.createElement("fieldset");
        var legend = document.createElement("legend");
        legend.textContent = parameter.section;
        fieldset.appendChild(legend);
        holder.appendChild(fieldset);
        sections[parameter.section] = fieldset;
      }
      sections[parameter.section].appendChild(parameterControl(parameter, index));
    });
    if (sections.Population) {
      var estimate = document.createElement("p");
      estimate.id = "estimate";
      estimate.setAttribute("aria-live", "polite");
      sections.Population.appendChild(estimate);
    }
    updateEstimate();
  }

  // ------------------------------------------------------------------ the time a run takes

  function estimateSeconds(people, days) {
    var t = timing;
    return t.scale * (t.fixed_s + t.build_s_per_person * people + days * (t.day_s + t.person_day_s * people));
  }

  function duration(seconds) {
    if (seconds < 60) { return "about " + Math.max(1, Math.round(seconds)) + " s"; }
    if (seconds < 3600) { return "about " + Math.round(seconds / 60) + " min"; }
    return "about " + (seconds / 3600).toFixed(1) + " h";
  }

  function updateEstimate() {
    var box = $("estimate");
    if (!box || !timing) { return; }
    var people = readValue(fieldValue("population.size")), days = readValue(fieldValue("population.days"));
    if (typeof people !== "number" || typeof days !== "number" || !(people > 0) || !(days > 0)) {
      box.textContent = "Estimated time: set People and Days to whole numbers.";
      return;
    }
    box.textContent = "Estimated time: " + duration(estimateSeconds(people, days)) + " for "
      + withCommas(people) + " people × " + withCommas(days) + " days (from " + timing.source + ").";
  }

  function parameterControl(parameter, index) {
    var box = document.createElement("div");
    box.className = "param";
    box.setAttribute("data-path", parameter.path);
    var label = document.createElement("label");
    label.htmlFor = "value-" + index;
    label.textContent = parameter.label;
    var row = document.createElement("div");
    row.className = "controls";
    var slider = document.createElement("input");
    slider.type = "range";
    slider.id = "slider-" + index;
    if (parameter.scale === "log") {
      slider.min = 0; slider.max = LOG_STEPS; slider.step = 1;
    } else {
      slider.min = parameter.min; slider.max = parameter.max; slider.step = parameter.step;
    }
    slider.value = toSlider(parameter, parameter.value);
    slider.setAttribute("aria-label", parameter.label + " (slider)");
    slider.setAttribute("aria-describedby", "help-" + index);
    var field = document.createElement("input");
    field.type = "text";
    field.id = "value-" + index;
    field.className = "value";
    field.inputMode = parameter.kind === "int" ? "numeric" : "decimal";
    field.autocomplete = "off";
    field.value = formatValue(parameter, parameter.value);
    field.setAttribute("data-path", parameter.path);
    field.setAttribute("data-kind", parameter.kind);
    field.setAttribute("aria-describedby", "help-" + index + " error-" + index);
    // a screen reader announces the value itself, not the slider's position (a log scale's 0..1000)
    function announce(value) { slider.setAttribute("aria-valuetext", withCommas(value) + (parameter.path === "population.size" ? " people" : "")); }
    announce(parameter.value);
    slider.addEventListener("input", function () {
      var value = fromSlider(parameter, slider.value);
      field.value = formatValue(parameter, value);
      announce(value);
      markChanged();
      updateEstimate();
    });
    field.addEventListener("input", function () {
      var value = readValue(field.value);
      if (typeof value === "number" && isFinite(value)) { slider.value = toSlider(parameter, value); announce(value); }
      markChanged();
      updateEstimate();
    });
    row.appendChild(slider);
    row.appendChild(field);
    var help = document.createElement("p");
    help.className = "help";
    help.id = "help-" + index;
    help.textContent = parameter.help + " Range " + withCommas(parameter.min) + " to "
      + withCommas(parameter.max) + "; starts at " + withCommas(parameter.value) + "."
      + (parameter.inert ? " Has no effect here: " + parameter.inert + "." : "");
    var problem = document.createElement("p");
    problem.className = "field-error";
    problem.id = "error-" + index;
    problem.hidden = true;
    box.appendChild(label);
    box.appendChild(row);
    box.appendChild(help);
    box.appendChild(problem);
    return box;

    function markChanged() {
      var changed = String(readValue(field.value)) !== String(readValue(formatValue(parameter, parameter.value)));
      box.classList.toggle("changed", changed);
    }
  }

  function collectRequest() {
    var parameters = {};
    var fields = $("parameters").querySelectorAll("input.value");
    for (var i = 0; i < fields.length; i++) {
      parameters[fields[i].getAttribute("data-path")] = readValue(fields[i].value);
    }
    return { scenario: $("scenario").value, seed: readValue($("seed").value), parameters: parameters };
  }

  function clearErrors() {
    $("form-error").hidden = true;
    $("form-error").textContent = "";
    var boxes = document.querySelectorAll(".param");
    for (var i = 0; i < boxes.length; i++) {
      boxes[i].classList.remove("invalid");
      var problem = boxes[i].querySelector(".field-error");
      problem.hidden = true;
      problem.textContent = "";
      var input = boxes[i].querySelector("input[type=text]");
      if (input) { input.removeAttribute("aria-invalid"); }
    }
  }

  function showFormError(message, field) {
    var box = $("form-error");
    box.textContent = message;
    box.hidden = false;
    if (!field) { return; }
    var target = document.querySelector('.param[data-path="' + cssEscape(field) + '"]');
    if (!target) { return; }
    target.classList.add("invalid");
    var problem = target.querySelector(".field-error");
    problem.textContent = message;
    problem.hidden = false;
    var input = target.querySelector("input[type=text]");
    if (input) { input.setAttribute("aria-invalid", "true"); input.focus({ preventScroll: true }); }
    target.scrollIntoView({ block: "center" });  // clear of the sticky bar with the message and the Run button
  }

  function cssEscape(text) {
    return window.CSS && CSS.escape ? CSS.escape(text) : String(text).replace(/["\\]/g, "\\$&");
  }

  // ------------------------------------------------------------------ talking to the server

  function api(method, url, body) {
    var options = { method: method, headers: { "Accept": "application/json" } };
    if (body !== undefined) {
      options.headers["Content-Type"] = "application/json";
      options.body = JSON.stringify(body);
    }
    return fetch(url, options).then(function (response) {
      return response.text().then(function (text) {
        var data = null;
        try { data = JSON.parse(text); } catch (e) { data = { error: text || response.statusText }; }
        return { ok: response.ok, status: response.status, data: data };
      });
    });
  }

  function submit(event) {
    event.preventDefault();
    clearErrors();
    $("run-error").hidden = true;
    var request = collectRequest();
    $("run-button").disabled = true;
    api("POST", "/api/runs", request).then(function (answer) {
      if (!answer.ok) {
        $("run-button").disabled = false;
        showFormError(answer.data.error || ("the server answered " + answer.status), answer.data.field);
        return;
      }
      follow(answer.data);
      revealStatus();
      refreshHistory();
    }, function () {
      $("run-button").disabled = false;
      showFormError("Could not reach the credsim server. Is it still running?");
    });
  }

  // Show a run (just started, or opened from the history or its address) and follow it.
  function follow(status) {
    current = { id: status.id, request: status.request, state: status.state };
    document.body.setAttribute("data-run-id", current.id);
    if (location.hash !== "#run=" + current.id) { history.replaceState(null, "", "#run=" + current.id); }
    $("run-error").hidden = true;
    $("pin-button").hidden = true;
    $("tabs").hidden = true;
    $("panel-report").hidden = true;
    $("panel-compare").hidden = true;
    $("size-note").hidden = true;
    showStatus(status);
    var running = status.state === "queued" || status.state === "running";
    $("cancel-button").hidden = !running;
    $("run-button").disabled = running;
    if (running) { poll(); }
    else if (status.state === "done") { showReport(status); }
    else { showRunError(status.error); }
    markHistory();
  }

  // On a narrow screen the progress is below the form: bring it into view, so that pressing
  // Run visibly does something.
  function revealStatus() {
    var panel = $("status-panel");
    var box = panel.getBoundingClientRect();
    if (box.top < 0 || box.bottom > window.innerHeight) {
      panel.scrollIntoView({ block: "start" });
    }
    panel.focus({ preventScroll: true });
  }

  function openRun(id) {
    if (current && current.id === id) { return; }
    api("GET", "/api/runs/" + encodeURIComponent(id)).then(function (answer) {
      if (!answer.ok) { showRunError("Run " + id + ": " + answer.data.error); return; }
      follow(answer.data);
    });
  }

  function runFromAddress() {
    var match = /^#run=([0-9a-f-]{36})$/.exec(location.hash);
    if (match) { openRun(match[1]); }
  }

  function poll() {
    if (!current) { return; }
    var id = current.id;
    clearTimeout(pollTimer);
    api("GET", "/api/runs/" + encodeURIComponent(id)).then(function (answer) {
      if (!current || current.id !== id) { return; }
      if (!answer.ok) { finish(); showRunError(answer.data.error); return; }
      showStatus(answer.data);
      if (answer.data.state === "done") { finish(); showReport(answer.data); refreshTiming(); }
      else if (answer.data.state === "queued" || answer.data.state === "running") { pollTimer = setTimeout(poll, POLL_MS); }
      else { finish(); showRunError(answer.data.error); }
    }, function () {
      $("progress-text").textContent = "The server does not answer (it may have been stopped); trying again…";
      pollTimer = setTimeout(poll, 2000);
    });
  }

  function finish() {
    $("run-button").disabled = false;
    $("cancel-button").hidden = true;
    refreshHistory();
  }

  // A run is called by its scenario and settings ("city, 20,000 people, 365 days, seed 0").
  function describe(request) {
    if (request.label) { return request.label; }
    var p = request.parameters || {};
    var people = p["population.size"] !== undefined ? withCommas(p["population.size"]) + " people, " : "";
    var days = p["population.days"] !== undefined ? withCommas(p["population.days"]) + " days, " : "";
    return request.scenario + ", " + people + days + "seed " + request.seed;
  }

  function people(request) {
    if (request.people !== undefined) { return request.people; }
    return (request.parameters || {})["population.size"];
  }

  function showStatus(status) {
    var bar = $("progress");
    bar.max = Math.max(1, status.days);
    bar.value = status.days_done;
    var text;
    if (status.state === "queued") {
      var ahead = (status.queue_position || 1) - 1;
      text = "Queued: waiting for a free worker" + (ahead > 0 ? " (" + ahead + " run" + (ahead > 1 ? "s" : "") + " ahead)" : "") + ".";
      if (status.stage && status.stage.indexOf("waiting while") === 0) { text = "Queued: " + status.stage + "."; }
    } else if (status.state === "running") {
      text = status.stage === "simulating"
        ? "Simulating: day " + withCommas(status.days_done) + " of " + withCommas(status.days) + "."
        : status.stage.charAt(0).toUpperCase() + status.stage.slice(1) + "…";
    } else if (status.state === "done") {
      text = "Done: " + describe(status.request) + (status.seconds ? " (took " + duration(status.seconds) + ")" : "") + ".";
    } else if (status.state === "stopped") {
      text = "Stopped by the server: " + describe(status.request) + ".";
    } else {
      text = status.state.charAt(0).toUpperCase() + status.state.slice(1) + ": " + describe(status.request) + ".";
    }
    $("status").setAttribute("data-state", status.state);
    $("progress-text").textContent = text;
  }

  function showRunError(message) {
    var box = $("run-error");
    box.textContent = message || "The run did not finish.";
    box.hidden = false;
  }

  // ------------------------------------------------------------------ the reports

  function showReport(status) {
    current.state = "done";
    $("tabs").hidden = false;
    var frame = $("report-frame");
    if (frame.getAttribute("src") !== status.report_url) { frame.src = status.report_url; }
    frame.setAttribute("data-run-id", current.id);
    frame.title = "report of " + describe(current.request);
    updatePinBar();
    selectTab("report");
  }

  function comparable() { return pinned !== null && current !== null && current.state === "done" && pinned.id !== current.id; }

  function updatePinBar() {
    $("pin-button").hidden = !(current && current.state === "done") || (pinned !== null && pinned.id === current.id);
    $("pin-button").textContent = pinned ? "Pin this run instead" : "Pin this run";
    $("unpin-button").hidden = pinned === null;
    $("pinned-info").textContent = pinned ? "Pinned: " + describe(pinned.request) + ". Later runs can be compared with it." : "";
    $("tab-compare").hidden = !comparable();
    var note = $("size-note");
    note.hidden = true;
    if (comparable() && people(pinned.request) !== people(current.request)) {
      note.textContent = "The pinned run has " + withCommas(people(pinned.request)) + " people and this run "
        + withCommas(people(current.request)) + ": a comparison of the two mixes sizes, so part of any difference is the size.";
      note.hidden = false;
    }
  }

  // A comparison is built by the server only when its tab is opened: it is a large page.
  function loadComparison() {
    var a = pinned.id, b = current.id, url = "/compare/" + a + "-" + b + ".html";
    var frame = $("compare-frame");
    if (frame.getAttribute("src") === url) { return; }
    frame.hidden = true;
    $("compare-status").textContent = "Building the comparison of " + describe(pinned.request) + " (pinned) with "
      + describe(current.request) + "…";
    api("POST", "/api/compare", { a: a, b: b }).then(function (answer) {
      if (!comparable() || pinned.id !== a || current.id !== b) { return; }
      if (!answer.ok) { $("compare-status").textContent = "Could not compare with the pinned run: " + answer.data.error; return; }
      $("compare-status").textContent = "Pinned: " + describe(pinned.request) + ". This run: " + describe(current.request)
        + " (dashed in the charts)." + ($("size-note").hidden ? "" : " " + $("size-note").textContent);
      frame.src = answer.data.url;
      frame.hidden = false;
      $("open-link").href = answer.data.url;
      $("open-link").hidden = false;
    });
  }

  function selectTab(which) {
    var report = which === "report" || !comparable();
    $("tab-report").setAttribute("aria-selected", String(report));
    $("tab-compare").setAttribute("aria-selected", String(!report));
    $("tab-report").tabIndex = report ? 0 : -1;
    $("tab-compare").tabIndex = report ? -1 : 0;
    $("panel-report").hidden = !report;
    $("panel-compare").hidden = report;
    var link = $("open-link");
    var url = report ? $("report-frame").getAttribute("src") : $("compare-frame").getAttribute("src");
    if (url) { link.href = url; link.hidden = false; } else { link.removeAttribute("href"); link.hidden = true; }
    if (!report) { loadComparison(); }
  }

  // Arrow keys move between the tabs (the ARIA tabs pattern).
  function tabKeys(event) {
    if (event.key !== "ArrowLeft" && event.key !== "ArrowRight") { return; }
    if (!comparable()) { return; }
    var next = event.target.id === "tab-report" ? "compare" : "report";
    selectTab(next);
    $("tab-" + next).focus();
    event.preventDefault();
  }

  function savePinned() {
    try {
      if (pinned) { localStorage.setItem(PIN_KEY, JSON.stringify(pinned)); } else { localStorage.removeItem(PIN_KEY); }
    } catch (e) { /* storage off: the pin lasts until the page is closed */ }
  }

  function loadPinned() {
    try {
      var saved = JSON.parse(localStorage.getItem(PIN_KEY) || "null");
      if (saved && /^[0-9a-f-]{36}$/.test(saved.id) && saved.request) { pinned = saved; }
    } catch (e) { pinned = null; }
  }

  function pin() {
    if (!current || current.state !== "done") { return; }
    pinned = { id: current.id, request: current.request };
    savePinned();
    updatePinBar();
    markHistory();
  }

  function unpin() {
    pinned = null;
    savePinned();
    $("compare-frame").removeAttribute("src");
    updatePinBar();
    selectTab("report");
    markHistory();
  }

  // ------------------------------------------------------------------ the history of runs

  var historyRuns = [];

  function refreshHistory() {
    api("GET", "/api/runs").then(function (answer) {
      if (!answer.ok) { return; }
      historyRuns = answer.data.runs;
      if (pinned && !historyRuns.some(function (run) { return run.id === pinned.id && run.state === "done"; })) {
        unpin();  // the pinned run was deleted (the server keeps the newest runs only)
      }
      markHistory();
    });
  }

  function markHistory() {
    var list = $("history-list");
    list.textContent = "";
    historyRuns.forEach(function (run) {
      var item = document.createElement("li");
      var link = document.createElement("a");
      link.href = "#run=" + run.id;
      link.textContent = describe(run.request);
      if (current && current.id === run.id) { item.className = "current"; link.setAttribute("aria-current", "true"); }
      var state = document.createElement("span");
      state.className = "state";
      state.textContent = " — " + run.state + (pinned && pinned.id === run.id ? ", pinned" : "");
      item.appendChild(link);
      item.appendChild(state);
      list.appendChild(item);
    });
    $("history").hidden = historyRuns.length === 0;
  }

  function refreshTiming() {
    api("GET", "/api/scenarios").then(function (answer) {
      if (answer.ok) { timing = answer.data.timing; updateEstimate(); }
    });
  }

  function cancel() {
    if (!current) { return; }
    api("DELETE", "/api/runs/" + encodeURIComponent(current.id)).then(function (answer) {
      if (answer.ok && current && answer.data.id === current.id) { showStatus(answer.data); }
    });
  }

  // ------------------------------------------------------------------ start

  document.addEventListener("DOMContentLoaded", function () {
    $("run-form").addEventListener("submit", submit);
    $("scenario").addEventListener("change", switchScenario);
    $("reset-button").addEventListener("click", renderParameters);
    $("tab-report").addEventListener("keydown", tabKeys);
    $("tab-compare").addEventListener("keydown", tabKeys);
    window.addEventListener("hashchange", runFromAddress);
    loadPinned();
    updatePinBar();
    $("pin-button").addEventListener("click", pin);
    $("unpin-button").addEventListener("click", unpin);
    $("cancel-button").addEventListener("click", cancel);
    $("tab-report").addEventListener("click", function () { selectTab("report"); });
    $("tab-compare").addEventListener("click", function () { selectTab("compare"); });
    api("GET", "/api/scenarios").then(function (answer) {
      if (!answer.ok) { showFormError("Could not load the scenarios: " + answer.data.error); return; }
      timing = answer.data.timing;
      renderScenarioList(answer.data.scenarios, answer.data["default"]);
      refreshHistory();
      runFromAddress();
    }, function () { showFormError("Could not reach the credsim server."); });
  });
})();
