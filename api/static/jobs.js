// The jobs page: list, watch, submit, cancel, download, all through the public HTTP API.
"use strict";

(function () {
  const POLL_MS = 1000;
  const TERMINAL = new Set(["succeeded", "failed", "cancelled"]);
  const TYPES = { csv: "text/csv", parquet: "application/vnd.apache.parquet" };
  const samples = new Map(); // job id -> [{t, rows}] seen while polling
  const $ = (id) => document.getElementById(id);
  let models = [];
  let selected = null;
  let timer = null;

  function say(text, isError) {
    $("message").textContent = text;
    $("message").className = isError ? "error" : "";
  }

  function failed(err) {
    if (err.status === 401) say("This API needs a valid key: enter it above.", true);
    else say(err.message || String(err), true);
  }

  function cell(row, text, cls) {
    const td = document.createElement("td");
    td.textContent = text;
    if (cls) td.className = cls;
    row.appendChild(td);
    return td;
  }

  function button(label, cls, onClick) {
    const b = document.createElement("button");
    b.type = "button";
    b.textContent = label;
    b.className = cls;
    b.addEventListener("click", (event) => { event.stopPropagation(); onClick(); });
    return b;
  }

  function seconds(value) {
    if (value === null || value === undefined) return "—";
    if (value < 60) return value.toFixed(1) + " s";
    return Math.floor(value / 60) + " min " + Math.round(value % 60) + " s";
  }

  function rate(value) {
    return value === null || value === undefined ? "—" : Math.round(value).toLocaleString();
  }

  function remember(job) {
    if (TERMINAL.has(job.status)) return; // its finished_at closes the curve
    const list = samples.get(job.job_id) || [];
    list.push({ t: Date.now(), rows: job.progress.rows_done });
    samples.set(job.job_id, list);
  }

  function progressCell(row, job) {
    const td = cell(row, "", "progress");
    const bar = document.createElement("span");
    bar.className = "bar";
    const fill = document.createElement("span");
    const pct = job.progress.rows_total ? (100 * job.progress.rows_done) / job.progress.rows_total : 0;
    fill.style.width = pct.toFixed(1) + "%";
    bar.appendChild(fill);
    const label = document.createElement("span");
    label.className = "pct";
    label.textContent = pct.toFixed(0) + "% (" + job.progress.rows_done.toLocaleString() + " / " +
      job.progress.rows_total.toLocaleString() + ")";
    td.append(bar, label);
  }

  function renderJobs(jobs) {
    const body = $("jobs").querySelector("tbody");
    body.replaceChildren();
    $("no-jobs").hidden = jobs.length > 0;
    for (const job of jobs) {
      const row = document.createElement("tr");
      row.dataset.jobId = job.job_id;
      row.className = "status-" + job.status + (job.job_id === selected ? " selected" : "");
      cell(row, job.job_id.slice(0, 8), "id");
      cell(row, job.model.name + " v" + job.model.version + " · " + job.method);
      cell(row, job.status, "status");
      progressCell(row, job);
      cell(row, rate(job.progress.rows_per_second), "num rate");
      cell(row, TERMINAL.has(job.status) ? "done" : seconds(job.progress.eta_seconds), "num eta");
      cell(row, new Date(job.created_at).toLocaleTimeString());
      const actions = cell(row, "");
      actions.append(button("Open", "open", () => select(job.job_id)));
      if (!TERMINAL.has(job.status)) actions.append(button("Cancel", "cancel", () => cancel(job.job_id)));
      if (job.status === "succeeded") actions.append(button("Download CSV", "download", () => download(job)));
      row.addEventListener("click", () => select(job.job_id));
      body.appendChild(row);
    }
  }

  function chartPoints(job) {
    const points = [];
    const at = (stamp) => (stamp ? Date.parse(stamp) : null);
    if (at(job.created_at)) points.push({ t: at(job.created_at), rows: 0 });
    if (at(job.started_at)) points.push({ t: at(job.started_at), rows: 0 });
    const end = at(job.finished_at);
    for (const p of samples.get(job.job_id) || []) if (!end || p.t < end) points.push(p);
    if (end) points.push({ t: end, rows: job.progress.rows_done });
    points.sort((a, b) => a.t - b.t || a.rows - b.rows);
    return points.filter((p, i) => i === 0 || p.rows >= points[i - 1].rows);
  }

  function renderDetail(job) {
    $("detail").hidden = false;
    $("detail-id").textContent = job.job_id;
    const fields = $("detail-fields");
    fields.replaceChildren();
    const items = [
      ["Status", job.status], ["Model", job.model.name + " v" + job.model.version], ["Method", job.method],
      ["Rows", job.progress.rows_done.toLocaleString() + " of " + job.rows.toLocaleString()],
      ["Chunks", job.progress.chunks_done + " of " + job.progress.chunks_total],
      ["Rows/s", rate(job.progress.rows_per_second)], ["ETA", seconds(job.progress.eta_seconds)],
      ["Created", job.created_at], ["Started", job.started_at || "—"], ["Finished", job.finished_at || "—"],
    ];
    if (job.error) items.push(["Error", job.error.detail]);
    for (const [name, value] of items) {
      const dt = document.createElement("dt");
      dt.textContent = name;
      const dd = document.createElement("dd");
      dd.textContent = value;
      dd.dataset.field = name.toLowerCase();
      fields.append(dt, dd);
    }
    window.drawProgressChart($("chart"), chartPoints(job), job.rows);
  }

  async function refresh() {
    try {
      const page = await predq.json("GET", "/jobs?limit=50");
      page.jobs.forEach(remember);
      renderJobs(page.jobs);
      $("updated").textContent = "updated " + new Date().toLocaleTimeString();
      if (selected) {
        const job = await predq.json("GET", "/jobs/" + encodeURIComponent(selected));
        remember(job);
        renderDetail(job);
      }
    } catch (err) {
      failed(err);
    }
  }

  function poll() {
    clearTimeout(timer);
    refresh().finally(() => { timer = setTimeout(poll, POLL_MS); });
  }

  function select(jobId) {
    selected = jobId;
    poll();
  }

  async function cancel(jobId) {
    try {
      await predq.json("DELETE", "/jobs/" + encodeURIComponent(jobId));
      say("Job " + jobId + " cancelled.");
    } catch (err) {
      failed(err);
    }
    poll();
  }

  async function download(job) {
    try {
      const answer = await predq.request("GET", "/jobs/" + encodeURIComponent(job.job_id) + "/results?format=csv");
      const url = URL.createObjectURL(await answer.blob());
      const link = document.createElement("a");
      link.href = url;
      link.download = "predq-" + job.job_id + ".csv";
      document.body.appendChild(link);
      link.click();
      link.remove();
      setTimeout(() => URL.revokeObjectURL(url), 10000);
      say("Downloaded the results of job " + job.job_id + ".");
    } catch (err) {
      failed(err);
    }
  }

  function showMethods() {
    const model = models.find((m) => m.name === $("model").value);
    const methods = $("method");
    methods.replaceChildren();
    for (const name of model ? model.methods : []) methods.append(new Option(name, name));
    $("features").textContent = model ? "Columns: " + model.features.join(", ") : "";
  }

  async function loadModels() {
    try {
      models = (await predq.json("GET", "/models")).models;
      const select = $("model");
      select.replaceChildren();
      for (const m of models) select.append(new Option(m.name + " (v" + m.version + ")", m.name, m.default, m.default));
      showMethods();
      say("");
    } catch (err) {
      failed(err);
    }
  }

  async function submit(event) {
    event.preventDefault();
    const file = $("file").files[0];
    const kind = file ? file.name.split(".").pop().toLowerCase() : "";
    if (!TYPES[kind]) {
      say("Choose a .csv or .parquet file.", true);
      return;
    }
    const query = new URLSearchParams({ model: $("model").value, method: $("method").value });
    try {
      const job = await predq.json("POST", "/jobs?" + query, file, TYPES[kind]);
      say("Job " + job.job_id + " accepted: " + job.rows.toLocaleString() + " rows.");
      select(job.job_id);
    } catch (err) {
      failed(err);
    }
  }

  $("key-form").addEventListener("submit", (event) => {
    event.preventDefault();
    predq.setKey($("api-key").value.trim());
    loadModels();
    poll();
  });
  $("model").addEventListener("change", showMethods);
  $("submit-form").addEventListener("submit", submit);
  $("close-detail").addEventListener("click", () => { selected = null; $("detail").hidden = true; poll(); });
  $("api-key").value = predq.key();
  loadModels();
  poll();
})();
