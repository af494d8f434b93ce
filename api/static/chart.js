// A line chart of rows done over time, drawn on a canvas with no library.
"use strict";

window.drawProgressChart = function (canvas, points, total) {
  const ctx = canvas.getContext("2d");
  const w = canvas.width, h = canvas.height;
  const pad = { left: 64, right: 16, top: 16, bottom: 34 };
  ctx.clearRect(0, 0, w, h);
  ctx.font = "12px system-ui, sans-serif";
  ctx.fillStyle = "#667085";
  if (points.length === 0) {
    ctx.fillText("no samples yet", pad.left, h / 2);
    return;
  }
  const t0 = points[0].t;
  const tEnd = Math.max(points[points.length - 1].t, t0 + 1);
  const yMax = Math.max(total, 1);
  const x = (t) => pad.left + ((t - t0) / (tEnd - t0)) * (w - pad.left - pad.right);
  const y = (rows) => h - pad.bottom - (rows / yMax) * (h - pad.top - pad.bottom);

  ctx.strokeStyle = "#d0d5dd";
  ctx.lineWidth = 1;
  ctx.textAlign = "right";
  for (let i = 0; i <= 4; i++) {
    const rows = (yMax * i) / 4;
    ctx.beginPath();
    ctx.moveTo(pad.left, y(rows));
    ctx.lineTo(w - pad.right, y(rows));
    ctx.stroke();
    ctx.fillText(Math.round(rows).toLocaleString(), pad.left - 6, y(rows) + 4);
  }
  ctx.textAlign = "center";
  for (let i = 0; i <= 4; i++) {
    const t = t0 + ((tEnd - t0) * i) / 4;
    ctx.fillText(((t - t0) / 1000).toFixed(1) + " s", x(t), h - pad.bottom + 18);
  }

  ctx.strokeStyle = "#2f6fed";
  ctx.lineWidth = 2;
  ctx.beginPath();
  points.forEach((p, i) => (i === 0 ? ctx.moveTo(x(p.t), y(p.rows)) : ctx.lineTo(x(p.t), y(p.rows))));
  ctx.stroke();
  ctx.fillStyle = "#2f6fed";
  points.forEach((p) => {
    ctx.beginPath();
    ctx.arc(x(p.t), y(p.rows), 3, 0, 2 * Math.PI);
    ctx.fill();
  });
  canvas.dataset.points = String(points.length);
};
