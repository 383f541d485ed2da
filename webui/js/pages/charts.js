// Charts drawn by the vendored uPlot (webui/vendor/uPlot.iife.min.js, loaded before the app as `uPlot`).
// Each chart follows its container's width (ResizeObserver) so it fits a phone screen.

const COLORS = { current: "#2f6fde", previous: "#9aa5b1", spark: "#12a150" };

function uPlotLib() {
  return window.uPlot || null;
}

function observeWidth(box, onWidth) {
  const observer = new ResizeObserver((entries) => {
    const width = Math.floor(entries[0].contentRect.width);
    if (width > 0) onWidth(width);
  });
  observer.observe(box);
  return observer;
}

/** A small line chart without axes; `update(xs, ys)` redraws it. */
export function sparkline(box) {
  const UPlot = uPlotLib();
  let plot = null;
  let observer = null;
  let last = [[], []];
  function make(width) {
    if (!UPlot) return;
    plot = new UPlot(
      {
        width,
        height: 48,
        cursor: { show: false },
        legend: { show: false },
        select: { show: false },
        axes: [{ show: false }, { show: false }],
        scales: { x: { time: true }, y: { range: (u, min, max) => [0, Math.max(1, max)] } },
        series: [{}, { stroke: COLORS.spark, fill: "rgba(18,161,80,0.12)", width: 2, points: { show: false } }],
      },
      last,
      box,
    );
  }
  observer = observeWidth(box, (width) => {
    if (!plot) make(width);
    else plot.setSize({ width, height: 48 });
  });
  return {
    update(xs, ys) {
      last = [xs.slice(), ys.slice()];
      if (plot) plot.setData(last);
    },
    destroy() {
      observer.disconnect();
      if (plot) plot.destroy();
    },
  };
}

/** A time series chart: `points` [{t (epoch s), value}], optional `previous` aligned by index. */
const DAY_S = 86400;
const COUNT_INCRS = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1e3, 2e3, 5e3, 1e4, 2e4, 5e4, 1e5, 2e5, 5e5, 1e6, 1e7];
const dayFormat = new Intl.DateTimeFormat(undefined, { month: "short", day: "numeric" });
const hourFormat = new Intl.DateTimeFormat(undefined, { hour: "numeric" });

/** X axis of a timeseries: whole days (no hour ticks between daily points) or hours. */
function timeAxis(interval) {
  if (interval === "hour" || interval === "minute") {
    return { grid: { show: false }, values: (u, ticks) => ticks.map((t) => hourFormat.format(new Date(t * 1000))) };
  }
  return {
    grid: { show: false },
    incrs: [DAY_S, 2 * DAY_S, 7 * DAY_S, 14 * DAY_S, 30 * DAY_S, 91 * DAY_S, 365 * DAY_S],
    values: (u, ticks) => ticks.map((t) => dayFormat.format(new Date(t * 1000))),
  };
}

const legendDay = new Intl.DateTimeFormat(undefined, { weekday: "short", year: "numeric", month: "short", day: "numeric" });
const legendHour = new Intl.DateTimeFormat(undefined, { month: "short", day: "numeric", hour: "numeric", minute: "2-digit" });
const legendMonth = new Intl.DateTimeFormat(undefined, { year: "numeric", month: "long" });

/** The legend's text for the bucket under the cursor: its date (days, weeks: "week of"), or hour. */
function bucketText(t, interval) {
  if (t === null || t === undefined) return "";
  const date = new Date(t * 1000);
  if (interval === "hour" || interval === "minute") return legendHour.format(date);
  if (interval === "month") return legendMonth.format(date);
  if (interval === "week") return `Week of ${legendDay.format(date)}`;
  return legendDay.format(date);
}

export function timeseriesChart(box, { points, previous, previousLabel = "Previous period", label, formatValue, interval = "day", integer = false }) {
  const UPlot = uPlotLib();
  if (!UPlot) {
    box.textContent = "The chart library did not load.";
    return { destroy() {} };
  }
  const xs = points.map((p) => p.t);
  const data = [xs, points.map((p) => p.value)];
  const series = [{ label: interval === "hour" || interval === "minute" ? "Time" : "Date", value: (u, t) => bucketText(t, interval) }, { label, stroke: COLORS.current, fill: "rgba(47,111,222,0.10)", width: 2, value: (u, v) => formatValue(v) }];
  if (previous && previous.length) {
    data.push(xs.map((_, i) => (previous[i] ? previous[i].value : null)));
    series.push({ label: previousLabel, stroke: COLORS.previous, dash: [6, 4], width: 1.5, value: (u, v) => formatValue(v) });
  }
  let plot = null;
  const height = () => (box.clientWidth < 500 ? 200 : 280);
  // Off the chart the legend shows the latest bucket (uPlot would show dashes), so it always reads as data.
  const latest = xs.length - 1;
  const showLatest = (u) => {
    if (u.cursor.idx == null && latest >= 0) u.setLegend({ idx: latest });
  };
  const observer = observeWidth(box, (width) => {
    if (!plot) {
      plot = new UPlot(
        {
          width,
          height: height(),
          series,
          scales: { y: { range: (u, min, max) => [0, Math.max(1, max * 1.1)] } },
          axes: [
            timeAxis(interval),
            // Counts get whole-number ticks only (no "0.3 visitors").
            { size: 50, incrs: integer ? COUNT_INCRS : undefined, values: (u, ticks) => ticks.map((v) => formatValue(v)) },
          ],
          legend: { live: true },
          hooks: { setCursor: [showLatest] },
        },
        data,
        box,
      );
      showLatest(plot);
    } else plot.setSize({ width, height: height() });
  });
  return {
    destroy() {
      observer.disconnect();
      if (plot) plot.destroy();
    },
  };
}
