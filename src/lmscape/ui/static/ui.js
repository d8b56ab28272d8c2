/* lmscape dashboard: draws the gateway charts and runs the playground. No framework. */
"use strict";

/* Plots drawn while the page was still being parsed take their frame's final width. */
function fitPlots(root) {
  if (!window.Plotly) return;
  root.querySelectorAll(".plot .js-plotly-plot").forEach(function (el) {
    window.Plotly.Plots.resize(el);
  });
}

function drawCharts(root) {
  if (!window.Plotly) return;
  root.querySelectorAll("[data-chart]").forEach(function (el) {
    if (el.dataset.drawn) return;
    var spec = JSON.parse(el.dataset.chart);
    window.Plotly.newPlot(el, spec.data, spec.layout, {displaylogo: false, responsive: true});
    el.dataset.drawn = "1";
  });
}

/* Wide tables scroll sideways inside .wrap: such a region must take keyboard focus. */
function focusableScrollers(root) {
  root.querySelectorAll(".wrap").forEach(function (el) {
    if (el.scrollWidth > el.clientWidth && !el.hasAttribute("tabindex")) {
      el.setAttribute("tabindex", "0");
      el.setAttribute("role", "region");
      var caption = el.querySelector("caption, th");
      el.setAttribute("aria-label", caption ? caption.textContent.trim().slice(0, 80) : "table");
    }
  });
}

function csrfToken() {
  var meta = document.querySelector('meta[name="csrf-token"]');
  return meta ? meta.content : "";
}

/* Parse Server-Sent Events from a fetch body; call onEvent(jsonObject) per data line. */
async function readEvents(response, onEvent) {
  var reader = response.body.getReader();
  var decoder = new TextDecoder();
  var buffer = "";
  for (;;) {
    var step = await reader.read();
    if (step.done) break;
    buffer += decoder.decode(step.value, {stream: true});
    var cut;
    while ((cut = buffer.indexOf("\n\n")) >= 0) {
      var block = buffer.slice(0, cut);
      buffer = buffer.slice(cut + 2);
      block.split("\n").forEach(function (line) {
        if (!line.startsWith("data:")) return;
        var data = line.slice(5).trim();
        if (data && data !== "[DONE]") onEvent(JSON.parse(data));
      });
    }
  }
}

function bubble(chat, role, text) {
  var div = document.createElement("div");
  div.className = "msg " + role;
  var body = document.createElement("span");
  body.className = "text";
  body.textContent = text;
  div.appendChild(body);
  chat.appendChild(div);
  return div;
}

function setupPlayground() {
  var form = document.getElementById("chat-form");
  if (!form) return;
  var chat = document.getElementById("chat");
  var prompt = document.getElementById("pg-prompt");
  var send = document.getElementById("pg-send");
  var messages = [];
  document.getElementById("pg-clear").addEventListener("click", function () {
    messages = [];
    chat.replaceChildren();
    prompt.focus();
  });
  prompt.addEventListener("keydown", function (ev) {
    if (ev.key === "Enter" && (ev.ctrlKey || ev.metaKey)) form.requestSubmit();
  });
  form.addEventListener("submit", async function (ev) {
    ev.preventDefault();
    var text = prompt.value.trim();
    if (!text) return;
    var select = document.getElementById("pg-model");
    var option = select.options[select.selectedIndex];
    messages.push({role: "user", content: text});
    bubble(chat, "user", text);
    prompt.value = "";
    var answer = bubble(chat, "assistant", "");
    var body = answer.querySelector(".text");
    var meta = document.createElement("span");
    meta.className = "meta";
    meta.textContent = "waiting for " + select.value + "…";
    answer.appendChild(meta);
    answer.dataset.chunks = "0";
    send.disabled = true;
    var started = performance.now(), first = null, usage = null, model = null;
    try {
      var response = await fetch(form.dataset.endpoint, {
        method: "POST", credentials: "same-origin",
        headers: {"Content-Type": "application/json", "X-CSRF-Token": csrfToken()},
        body: JSON.stringify({model: select.value, messages: messages,
                              max_tokens: parseInt(document.getElementById("pg-max").value, 10),
                              temperature: parseFloat(document.getElementById("pg-temp").value)})
      });
      if (!response.ok) {
        var err = await response.json().catch(function () { return {}; });
        throw new Error((err.error && err.error.message) || ("HTTP " + response.status));
      }
      var servedBy = response.headers.get("x-lmscape-served-by");
      var route = response.headers.get("x-lmscape-route");
      await readEvents(response, function (event) {
        if (event.model) model = event.model;
        if (event.usage) usage = event.usage;
        var choice = event.choices && event.choices[0];
        var piece = choice && choice.delta && choice.delta.content;
        if (piece) {
          if (first === null) first = performance.now();
          body.textContent += piece;
          answer.dataset.chunks = String(parseInt(answer.dataset.chunks, 10) + 1);
        }
      });
      var ended = performance.now();
      messages.push({role: "assistant", content: body.textContent});
      var parts = ["answered by " + (servedBy || model || select.value)];
      if (route) parts.push("route " + route);
      if (first !== null) parts.push("time to first token " + ((first - started) / 1000).toFixed(2) + " s");
      if (usage) {
        var gen = first !== null ? (ended - first) / 1000 : 0;
        if (gen > 0 && usage.completion_tokens > 1)
          parts.push(((usage.completion_tokens - 1) / gen).toFixed(1) + " tokens/s");
        // priced as the system that answered when it is a served model (auto: policies)
        var priced = servedBy && select.querySelector('option[value="' + CSS.escape(servedBy) + '"]');
        priced = priced || option;
        var cost = (usage.prompt_tokens * parseFloat(priced.dataset.in) +
                    usage.completion_tokens * parseFloat(priced.dataset.out)) / 1e6;
        parts.push(usage.prompt_tokens + " + " + usage.completion_tokens + " tokens");
        parts.push("cost $" + cost.toFixed(6));
      }
      meta.textContent = parts.join(" · ");
      answer.dataset.done = "1";
    } catch (e) {
      meta.textContent = "error: " + e.message;
      answer.dataset.error = e.message;
      messages.pop();
    } finally {
      send.disabled = false;
    }
  });
}

document.addEventListener("DOMContentLoaded", function () {
  drawCharts(document);
  fitPlots(document);
  focusableScrollers(document);
  setupPlayground();
});
document.addEventListener("htmx:afterSettle", function (ev) {
  drawCharts(ev.target);
  fitPlots(ev.target);
  focusableScrollers(ev.target);
});
