// Dashboard charts (data from the json_script block) and the export progress bar. No inline scripts.
(function () {
  "use strict";
  var COLORS = ["#0d6efd", "#20c997", "#fd7e14", "#d63384", "#6f42c1", "#6c757d"];
  var SEGMENT_COLORS = {
    new: "#20c997", active: "#0d6efd", one_timer: "#adb5bd", lapsed: "#fd7e14",
    lost: "#6c757d", at_risk: "#dc3545", best: "#6f42c1"
  };

  // The tiles' data (cached with them) and the live tiles' data (notes pipeline, complaints).
  function readData() {
    var data = null;
    ["dashboard-data", "dashboard-live-data"].forEach(function (id) {
      var node = document.getElementById(id);
      if (!node) { return; }
      var part = JSON.parse(node.textContent);
      data = data || {};
      Object.keys(part).forEach(function (k) { data[k] = part[k]; });
    });
    return data;
  }

  function rtl() { return document.documentElement.dir === "rtl"; }

  function visitsChart(data) {
    var canvas = document.getElementById("chart-visits");
    if (!canvas || !window.Chart || !data.visits.labels.length) { return; }
    canvas.dataset.points = String(data.visits.labels.length);
    canvas.dataset.total = String(data.visits.visits.reduce(function (a, b) { return a + b; }, 0));
    new window.Chart(canvas, {
      type: "bar",
      data: {
        labels: data.visits.labels,
        datasets: [
          { label: data.visits.label_visits, data: data.visits.visits, backgroundColor: COLORS[0] },
          { label: data.visits.label_new, data: data.visits.new, backgroundColor: COLORS[1] }
        ]
      },
      options: {
        maintainAspectRatio: false,
        animation: false,
        scales: { x: { reverse: rtl() }, y: { beginAtZero: true, ticks: { precision: 0 } } },
        plugins: { legend: { rtl: rtl(), position: "bottom" } }
      }
    });
    canvas.dataset.rendered = "true";
  }

  function complaintsChart(data) {
    var canvas = document.getElementById("chart-complaints");
    if (!canvas || !window.Chart || !data.complaints) { return; }
    new window.Chart(canvas, {
      type: "bar",
      data: {
        labels: data.complaints.labels,
        datasets: data.complaints.series.map(function (s, i) {
          return { label: s.label, data: s.data, backgroundColor: COLORS[i % COLORS.length] };
        })
      },
      options: {
        maintainAspectRatio: false,
        animation: false,
        scales: { x: { stacked: true, reverse: rtl() }, y: { stacked: true, beginAtZero: true, ticks: { precision: 0 } } },
        plugins: { legend: { rtl: rtl(), position: "bottom" } }
      }
    });
    canvas.dataset.rendered = "true";
  }

  // The customer ladder as a funnel: horizontal bars, widest rung first, centred like a funnel
  // (a floating bar from -n/2 to n/2), the count in the tooltip and in the table.
  function ladderChart(data) {
    var canvas = document.getElementById("chart-ladder");
    if (!canvas || !window.Chart || !data.ladder) { return; }
    var counts = data.ladder.customers;
    canvas.dataset.total = String(counts.reduce(function (a, b) { return a + b; }, 0));
    new window.Chart(canvas, {
      type: "bar",
      data: {
        labels: data.ladder.labels,
        datasets: [{
          label: data.ladder.label,
          data: counts.map(function (n) { return [-n / 2, n / 2]; }),
          backgroundColor: counts.map(function (n, i) { return COLORS[i % COLORS.length]; }),
          borderSkipped: false
        }]
      },
      options: {
        indexAxis: "y",
        maintainAspectRatio: false,
        animation: false,
        scales: { x: { display: false }, y: { grid: { display: false }, position: rtl() ? "right" : "left" } },
        plugins: {
          legend: { display: false },
          tooltip: { callbacks: { label: function (ctx) { return data.ladder.label + ": " + counts[ctx.dataIndex]; } } }
        }
      }
    });
    canvas.dataset.rendered = "true";
  }

  function segmentSizesChart(data) {
    var canvas = document.getElementById("chart-segment-sizes");
    if (!canvas || !window.Chart || !data.segment_sizes) { return; }
    canvas.dataset.points = String(data.segment_sizes.labels.length);
    new window.Chart(canvas, {
      type: "line",
      data: {
        labels: data.segment_sizes.labels,
        datasets: data.segment_sizes.series.map(function (s, i) {
          var color = SEGMENT_COLORS[s.key] || COLORS[i % COLORS.length];
          return { label: s.label, data: s.data, borderColor: color, backgroundColor: color, tension: 0.2, pointRadius: 3 };
        })
      },
      options: {
        maintainAspectRatio: false,
        animation: false,
        scales: { x: { reverse: rtl() }, y: { beginAtZero: true, ticks: { precision: 0 } } },
        plugins: { legend: { rtl: rtl(), position: "bottom", labels: { boxWidth: 12 } } }
      }
    });
    canvas.dataset.rendered = "true";
  }

  // Campaign results: the return rate (%) of contacted customers beside the held-out group's.
  function campaignsChart(data) {
    var canvas = document.getElementById("chart-campaigns");
    if (!canvas || !window.Chart || !data.campaigns) { return; }
    canvas.dataset.points = String(data.campaigns.labels.length);
    new window.Chart(canvas, {
      type: "bar",
      data: {
        labels: data.campaigns.labels,
        datasets: [
          { label: data.campaigns.label_contacted, data: data.campaigns.contacted, backgroundColor: COLORS[0] },
          { label: data.campaigns.label_holdout, data: data.campaigns.holdout, backgroundColor: COLORS[5] }
        ]
      },
      options: {
        indexAxis: "y",
        maintainAspectRatio: false,
        animation: false,
        scales: { x: { beginAtZero: true, suggestedMax: 100, reverse: rtl(), ticks: { callback: function (v) { return v + "%"; } } },
                  y: { position: rtl() ? "right" : "left" } },
        plugins: { legend: { rtl: rtl(), position: "bottom" } }
      }
    });
    canvas.dataset.rendered = "true";
  }

  // Notes pipeline: one stacked bar per writer (to write, written, posted, emailed).
  function pipelineChart(data) {
    var canvas = document.getElementById("chart-pipeline");
    if (!canvas || !window.Chart || !data.pipeline) { return; }
    canvas.dataset.points = String(data.pipeline.labels.length);
    new window.Chart(canvas, {
      type: "bar",
      data: {
        labels: data.pipeline.labels,
        datasets: data.pipeline.series.map(function (s, i) {
          return { label: s.label, data: s.data, backgroundColor: [COLORS[2], COLORS[4], COLORS[1], COLORS[0]][i % 4] };
        })
      },
      options: {
        indexAxis: "y",
        maintainAspectRatio: false,
        animation: false,
        scales: { x: { stacked: true, beginAtZero: true, reverse: rtl(), ticks: { precision: 0 } },
                  y: { stacked: true, position: rtl() ? "right" : "left" } },
        plugins: { legend: { rtl: rtl(), position: "bottom" } }
      }
    });
    canvas.dataset.rendered = "true";
  }

  // Export job page: poll the status until done, then show the download link.
  function exportProgress() {
    var box = document.getElementById("export-job");
    if (!box) { return; }
    var bar = box.querySelector("[data-testid=job-progress]");
    var status = box.querySelector("[data-testid=job-status]");
    var rows = box.querySelector("[data-testid=job-rows]");
    var message = box.querySelector("[data-testid=job-message]");
    var link = box.querySelector("[data-testid=job-download]");
    function poll() {
      fetch(box.dataset.statusUrl, { headers: { Accept: "application/json" }, credentials: "same-origin" })
        .then(function (r) { return r.json(); })
        .then(function (s) {
          bar.style.width = s.percent + "%";
          bar.textContent = s.percent + "%";
          bar.parentNode.setAttribute("aria-valuenow", String(s.percent));
          status.textContent = s.status_label;
          rows.textContent = s.rows_done + " / " + s.rows_total;
          if (s.message) { message.textContent = s.message; message.hidden = false; }
          if (s.status === "done") { link.classList.remove("d-none"); box.dataset.status = "done"; return; }
          if (s.status === "failed") { box.dataset.status = "failed"; return; }
          window.setTimeout(poll, 1000);
        })
        .catch(function () { window.setTimeout(poll, 3000); });
    }
    if (box.dataset.status !== "done") { poll(); } else { bar.style.width = "100%"; }
  }

  var data = readData();
  if (data) {
    visitsChart(data); complaintsChart(data); ladderChart(data); segmentSizesChart(data);
    campaignsChart(data); pipelineChart(data);
  }
  exportProgress();
})();
