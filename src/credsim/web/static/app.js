// credsim's web page: the form, a run's live progress, its report, and the pinned comparison.
// Every piece of text from the server is put on the page with textContent, never as HTML.
"use strict";

(function () {
  var POLL_MS = 300;
  var scenarios = {};      // name -> {name, description, parameters, error?}
  var current = null;      // {id, request, state}
  var pinned = null;       // {id, request}
  var pollTimer = null;

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
    var field = document.createElement("input");
    field.type = "text";
    field.id = "value-" + index;
    field.className = "value";
    field.inputMode = parameter.kind === "int" ? "numeric" : "decimal";
    field.autocomplete = "off";
    field.value = formatValue(parameter, parameter.value);
    field.setAttribute("data-path", parameter.path);
    field.setAttribute("data-kind", parameter.kind);
    slider.addEventListener("input", function () { field.value = formatValue(parameter, fromSlider(parameter, slider.value)); markChanged(); });
    field.addEventListener("input", function () {
      var value = readValue(field.value);
      if (typeof value === "number" && isFinite(value)) { slider.value = toSlider(parameter, value); }
      markChanged();
    });
    row.appendChild(slider);
    row.appendChild(field);
    var help = document.createElement("p");
    help.className = "help";
    help.textContent = parameter.help + " Range " + withCommas(parameter.min) + " to "
      + withCommas(parameter.max) + "; scenario value " + withCommas(parameter.value) + "."
      + (parameter.inert ? " Has no effect here: " + parameter.inert + "." : "");
    var problem = document.createElement("p");
    problem.className = "field-error";
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
      current = { id: answer.data.id, request: answer.data.request, state: answer.data.state };
      document.body.setAttribute("data-run-id", current.id);
      $("cancel-button").hidden = false;
      $("pin-button").hidden = true;
      $("tabs").hidden = true;
      $("report-frame").hidden = true;
      $("compare-frame").hidden = true;
      showStatus(answer.data);
      poll();
    }, function () {
      $("run-button").disabled = false;
      showFormError("Could not reach the credsim server. Is it still running?");
    });
  }

  function poll() {
    if (!current) { return; }
    var id = current.id;
    clearTimeout(pollTimer);
    api("GET", "/api/runs/" + encodeURIComponent(id)).then(function (answer) {
      if (!current || current.id !== id) { return; }
      if (!answer.ok) { finish(); showRunError(answer.data.error); return; }
      showStatus(answer.data);
      if (answer.data.state === "done") { finish(); showReport(answer.data); }
      else if (answer.data.state === "failed" || answer.data.state === "cancelled") { finish(); showRunError(answer.data.error); }
      else { pollTimer = setTimeout(poll, POLL_MS); }
    }, function () {
      $("progress-text").textContent = "Lost contact with the server; trying again…";
      pollTimer = setTimeout(poll, 2000);
    });
  }

  function finish() {
    $("run-button").disabled = false;
    $("cancel-button").hidden = true;
  }

  function describe(request) {
    var p = request.parameters || {};
    var people = p["population.size"] !== undefined ? withCommas(p["population.size"]) + " people, " : "";
    var days = p["population.days"] !== undefined ? withCommas(p["population.days"]) + " days, " : "";
    return request.scenario + ": " + people + days + "seed " + request.seed;
  }

  function showStatus(status) {
    var bar = $("progress");
    bar.max = Math.max(1, status.days);
    bar.value = status.days_done;
    var text;
    if (status.state === "queued") {
      var ahead = (status.queue_position || 1) - 1;
      text = "Queued: waiting for a free worker" + (ahead > 0 ? " (" + ahead + " run" + (ahead > 1 ? "s" : "") + " ahead)" : "") + ".";
    } else if (status.state === "running") {
      text = status.stage === "simulating"
        ? "Running: day " + withCommas(status.days_done) + " of " + withCommas(status.days) + "."
        : status.stage.charAt(0).toUpperCase() + status.stage.slice(1) + "…";
    } else if (status.state === "done") {
      text = "Done: " + describe(status.request) + ".";
    } else {
      text = status.state.charAt(0).toUpperCase() + status.state.slice(1) + ".";
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
    frame.src = status.report_url;
    frame.setAttribute("data-run-id", current.id);
    $("pin-button").hidden = pinned !== null && pinned.id === current.id;
    $("pin-button").textContent = pinned ? "Pin this run instead" : "Pin this run";
    selectTab("report");
    if (pinned && pinned.id !== current.id) { compareWithPinned(); }
    else { $("tab-compare").hidden = true; }
  }

  function compareWithPinned() {
    var a = pinned.id, b = current.id;
    $("tab-compare").hidden = true;
    api("POST", "/api/compare", { a: a, b: b }).then(function (answer) {
      if (!current || current.id !== b || !pinned || pinned.id !== a) { return; }
      if (!answer.ok) { showRunError("Could not compare with the pinned run: " + answer.data.error); return; }
      // loaded when its tab is first opened: a comparison is a large page to draw
      $("compare-frame").setAttribute("data-url", answer.data.url);
      $("tab-compare").hidden = false;
    });
  }

  function selectTab(which) {
    var report = which === "report";
    var compareFrame = $("compare-frame");
    if (!report && compareFrame.getAttribute("src") !== compareFrame.getAttribute("data-url")) {
      compareFrame.src = compareFrame.getAttribute("data-url");
    }
    $("tab-report").setAttribute("aria-selected", String(report));
    $("tab-compare").setAttribute("aria-selected", String(!report));
    $("report-frame").hidden = !report;
    $("compare-frame").hidden = report;
    var link = $("open-link");
    var url = report ? $("report-frame").getAttribute("src") : $("compare-frame").getAttribute("data-url");
    if (url) { link.href = url; link.hidden = false; } else { link.removeAttribute("href"); link.hidden = true; }
  }

  function pin() {
    if (!current || current.state !== "done") { return; }
    pinned = { id: current.id, request: current.request };
    $("pinned-info").textContent = "Pinned: " + describe(pinned.request) + ". The next run is compared with it.";
    $("pin-button").hidden = true;
    $("unpin-button").hidden = false;
  }

  function unpin() {
    pinned = null;
    $("compare-frame").removeAttribute("data-url");
    $("pinned-info").textContent = "";
    $("unpin-button").hidden = true;
    $("tab-compare").hidden = true;
    selectTab("report");
    if (current && current.state === "done") { $("pin-button").hidden = false; }
  }

  function cancel() {
    if (!current) { return; }
    api("DELETE", "/api/runs/" + encodeURIComponent(current.id));
  }

  // ------------------------------------------------------------------ start

  document.addEventListener("DOMContentLoaded", function () {
    $("run-form").addEventListener("submit", submit);
    $("scenario").addEventListener("change", renderParameters);
    $("reset-button").addEventListener("click", renderParameters);
    $("pin-button").addEventListener("click", pin);
    $("unpin-button").addEventListener("click", unpin);
    $("cancel-button").addEventListener("click", cancel);
    $("tab-report").addEventListener("click", function () { selectTab("report"); });
    $("tab-compare").addEventListener("click", function () { selectTab("compare"); });
    api("GET", "/api/scenarios").then(function (answer) {
      if (!answer.ok) { showFormError("Could not load the scenarios: " + answer.data.error); return; }
      renderScenarioList(answer.data.scenarios, answer.data["default"]);
    }, function () { showFormError("Could not reach the credsim server."); });
  });
})();
