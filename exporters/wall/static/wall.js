/* cxpulse wall: polls /api/kpis (and /api/trends for sparklines) and redraws in place.
 *
 * Plain JavaScript, no framework, no network access beyond the exporter serving
 * this page (relative URLs only). Threshold states use the exact rule of
 * cxpulse.settings.Threshold.state: critical first, ">=" when higher is worse,
 * "<=" otherwise; a missing value is "nodata".
 */
(function () {
  "use strict";

  var CALL_WINDOWS = ["5m", "15m", "1h", "today"];
  var SURVEY_WINDOWS = ["1h", "24h", "7d", "30d"];
  // carts have no 5m window: the nearest wider one is shown (and named) instead
  var CART_WINDOW = { "5m": "15m", "15m": "15m", "1h": "1h", "today": "today" };
  var MARKERS = {
    normal: "● OK", warning: "▲ WARN", critical: "■ CRIT",
    lowsample: "◌ LOW SAMPLE", nodata: "— NO DATA", none: ""
  };
  var TRENDS_EVERY_MS = 15000;
  var FETCH_TIMEOUT_MS = 3000;

  // ------------------------------------------------------------------ pure helpers

  function isNum(v) { return typeof v === "number" && isFinite(v); }

  function thresholdState(th, value) {
    if (!isNum(value)) return "nodata";
    if (!th) return "none";
    var higherIsWorse = th.higher_is_worse !== false;
    var worse = higherIsWorse
      ? function (a, b) { return a >= b; }
      : function (a, b) { return a <= b; };
    if (worse(value, th.critical)) return "critical";
    if (worse(value, th.warning)) return "warning";
    return "normal";
  }

  function pad2(n) { return (n < 10 ? "0" : "") + n; }
  function round(v) { return Math.floor(v + 0.5); }  // half up, like the tests' mirror

  function fmtCount(v) { return isNum(v) ? String(round(v)) : "—"; }
  function fmtPct(v) { return isNum(v) ? (v * 100).toFixed(1) + "%" : "—"; }
  function fmtSecs(v) {
    if (!isNum(v)) return "—";
    var s = round(v);
    if (s < 60) return s + "s";
    if (s < 3600) return Math.floor(s / 60) + "m" + pad2(s % 60) + "s";
    return Math.floor(s / 3600) + "h" + pad2(Math.floor((s % 3600) / 60)) + "m";
  }
  function fmtNps(v) {
    if (!isNum(v)) return "—";
    var r = round(v);
    return r > 0 ? "+" + r : String(r === 0 ? 0 : r);
  }
  function fmtMoney(aov) {
    if (!aov || typeof aov !== "object") return "";
    var cur = Object.keys(aov).filter(function (k) { return isNum(aov[k]); });
    return cur.map(function (k) { return k + " " + aov[k].toFixed(2); }).join(" · ");
  }

  function dig(obj, path) {
    for (var i = 0; i < path.length; i++) {
      if (obj === null || obj === undefined) return undefined;
      obj = obj[path[i]];
    }
    return obj;
  }

  // ------------------------------------------------------------------------ params

  function listParam(params, name) {
    var raw = params.get(name);
    if (!raw) return null;
    var items = raw.split(",").map(function (s) { return s.trim(); }).filter(Boolean);
    return items.length ? items : null;
  }

  function numberParam(params, name, fallback, lo, hi) {
    var v = parseFloat(params.get(name));
    if (!isFinite(v)) v = fallback;
    return Math.min(Math.max(v, lo), hi);
  }

  function readConfig() {
    var params = new URLSearchParams(window.location.search);
    var body = document.body;
    var staleDefault = parseFloat(body.getAttribute("data-stale-after"));
    var refreshDefault = parseFloat(body.getAttribute("data-refresh"));
    var win = params.get("window");
    var sw = params.get("survey_window");
    return {
      window: CALL_WINDOWS.indexOf(win) >= 0 ? win : "15m",
      surveyWindow: SURVEY_WINDOWS.indexOf(sw) >= 0 ? sw : "24h",
      queues: listParam(params, "queue"),
      channels: listParam(params, "channel"),
      staleAfter: numberParam(params, "stale_after", isFinite(staleDefault) ? staleDefault : 30, 1, 86400),
      refresh: numberParam(params, "refresh", isFinite(refreshDefault) ? refreshDefault : 1, 0.25, 2)
    };
  }

  var config = null;
  var state = { snap: null, trends: null, failures: 0, lastOk: null, lastError: "", everOk: false };

  // ------------------------------------------------------------------------- tiles

  function kpi(name) { return function (c) { return dig(c.entry, ["kpis", name]); }; }

  var TILES = [
    // live gauges have no minute history: their sparkline is a related series, captioned on the tile
    { key: "waiting", label: "Waiting", th: "calls_waiting", fmt: fmtCount,
      value: function (c) { return dig(c.segment, ["live", "waiting"]); },
      trend: ["counts", "offered"], caption: "offered/min", trendLabel: "calls offered per minute, last hour" },
    { key: "longest_wait", label: "Longest wait", th: "longest_wait_seconds", fmt: fmtSecs,
      value: function (c) { return dig(c.segment, ["live", "longest_wait_seconds"]); },
      trend: ["counts", "abandoned"], caption: "abandoned/min", trendLabel: "calls abandoned per minute, last hour" },
    { key: "abandon_rate", label: "Abandon", th: "abandon_rate", fmt: fmtPct, value: kpi("abandon_rate"),
      trend: ["kpis", "abandon_rate"], ratio: true },
    { key: "service_level", label: "Service level", th: "service_level", fmt: fmtPct, value: kpi("service_level"),
      trend: ["kpis", "service_level"], ratio: true },
    { key: "asa", label: "ASA", th: "asa_seconds", fmt: fmtSecs, value: kpi("asa_seconds"),
      trend: ["kpis", "asa_seconds"] },
    { key: "aht", label: "AHT", th: "aht_seconds", fmt: fmtSecs, value: kpi("aht_seconds"),
      trend: ["kpis", "aht_seconds"] },
    { key: "fcr", label: "FCR", th: "fcr", fmt: fmtPct, value: kpi("fcr_agent_flag"),
      trend: ["kpis", "fcr_agent_flag"], ratio: true },
    { key: "nps", label: "NPS", th: "nps", fmt: fmtNps, survey: "nps", count: "nps_responses",
      trend: ["kpis", "nps"], range: [-100, 100] },
    { key: "csat", label: "CSAT", th: "csat", fmt: fmtPct, survey: "csat", count: "csat_responses",
      trend: ["kpis", "csat"], ratio: true }
  ];

  // value, state and note of one tile for one row context
  function tileFigure(tile, c, thresholds) {
    if (tile.survey) {
      var s = c.survey;
      var value = dig(s, ["kpis", tile.survey]);
      var n = dig(s, ["counts", tile.count]);
      var meaningful = dig(s, ["kpis", "meaningful", tile.survey]);
      if (typeof meaningful !== "boolean") meaningful = isNum(n) && isNum(c.minSample) ? n >= c.minSample : true;
      var thState = thresholdState(thresholds[tile.th], value);
      var st = thState === "nodata" ? "nodata" : (meaningful ? thState : "lowsample");
      var note = s ? "n=" + (isNum(n) ? round(n) : 0) : "";
      return { value: value, text: tile.fmt(value), state: st, thresholdState: thState, note: note };
    }
    var v = tile.value(c);
    var ts = thresholdState(thresholds[tile.th], v);
    return { value: v, text: tile.fmt(v), state: ts, thresholdState: ts, note: "" };
  }

  // ------------------------------------------------------------------------- DOM

  function el(tag, cls, text) {
    var node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function buildRow(key, queue, channel) {
    var row = el("section", "row");
    row.setAttribute("data-row", key);
    row.setAttribute("data-queue", queue);
    row.setAttribute("data-channel", channel);
    var head = el("div", "row-head");
    head.appendChild(el("span", "q", queue));
    head.appendChild(el("span", "ch", channel || "—"));
    head.appendChild(el("span", "row-worst"));
    row.appendChild(head);
    var tiles = el("div", "tiles");
    TILES.forEach(function (tile) {
      var t = el("div", "tile");
      t.setAttribute("data-tile", tile.key);
      t.setAttribute("data-state", "nodata");
      var head = el("div", "t-head");
      head.appendChild(el("span", "t-label", tile.label));
      head.appendChild(el("span", "t-note"));  // sample size of survey figures
      t.appendChild(head);
      t.appendChild(el("div", "t-value", "—"));
      t.appendChild(el("div", "t-state", MARKERS.nodata));
      var spark = el("div", "t-spark");
      if (tile.trend) {
        spark.title = tile.trendLabel || (tile.label + (tile.survey ? " of the queue (all channels)" : "") +
          " per minute, last hour");
        spark.setAttribute("data-series", tile.trend.join("."));
      }
      t.appendChild(spark);
      tiles.appendChild(t);
    });
    row.appendChild(tiles);
    return row;
  }

  function setText(node, text) { if (node.textContent !== text) node.textContent = text; }

  // a figure that would not fit its tile at the CSS size is scaled down, never cut
  function fitText(node, text) {
    if (node.textContent === text && node.getAttribute("data-fit") === "1") return;
    setFigure(node, text);
    node.style.fontSize = "";
    var avail = node.clientWidth, need = node.scrollWidth;
    if (avail > 0 && need > avail) {
      var size = parseFloat(window.getComputedStyle(node).fontSize);
      node.style.fontSize = Math.floor(size * avail / need * 0.97) + "px";
    }
    node.setAttribute("data-fit", avail > 0 ? "1" : "0");
  }

  // "2m05s" -> 2<small>m</small>05<small>s</small>: units smaller, so the digits can be bigger
  function setFigure(node, text) {
    while (node.firstChild) node.removeChild(node.firstChild);
    var parts = text.match(/[0-9.+\-]+|[^0-9.+\-]+/g) || [text];
    parts.forEach(function (part) {
      if (/^[0-9.+\-]+$/.test(part) || part === "—") node.appendChild(document.createTextNode(part));
      else node.appendChild(el("span", "u", part));
    });
  }

  // TV layout: figure sizes follow the tiles' real height (a stale banner takes room too)
  var SMALL_SCREEN = "(max-width: 1100px), (max-height: 600px)";
  function measureTiles() {
    var body = document.body;
    if (window.matchMedia && window.matchMedia(SMALL_SCREEN).matches) {
      if (!body.style.getPropertyValue("--tile-h")) return false;
      body.style.removeProperty("--tile-h");
      return true;
    }
    var tile = document.querySelector("section.row .tile");
    if (!tile) return false;
    var h = tile.getBoundingClientRect().height;
    var current = parseFloat(body.style.getPropertyValue("--tile-h"));
    if (!(h > 0) || Math.abs(h - current) < 2) return false;
    body.style.setProperty("--tile-h", Math.round(h) + "px");
    return true;
  }

  function refit() {
    Array.prototype.forEach.call(document.querySelectorAll(".t-value"), function (n) {
      n.setAttribute("data-fit", "0");
      fitText(n, n.textContent);
    });
  }

  function wanted(segment) {
    if (config.queues && config.queues.indexOf(segment.queue) < 0) return false;
    if (config.channels && config.channels.indexOf(segment.channel) < 0) return false;
    return true;
  }

  function render() {
    var snap = state.snap;
    if (!snap) { renderStatus(); return; }
    var thresholds = snap.thresholds || {};
    var segments = (dig(snap, ["calls", "segments"]) || []).filter(wanted).slice();
    segments.sort(function (a, b) {
      return a.queue < b.queue ? -1 : a.queue > b.queue ? 1 : (a.channel < b.channel ? -1 : a.channel > b.channel ? 1 : 0);
    });
    var main = document.getElementById("rows");
    var empty = document.getElementById("empty");
    var seen = {};
    var surveys = snap.surveys || null;
    var minSample = surveys ? surveys.min_sample : undefined;
    segments.forEach(function (segment, index) {
      var key = segment.queue + "|" + segment.channel;
      seen[key] = true;
      var row = main.querySelector('section.row[data-row="' + cssEscape(key) + '"]');
      if (!row) row = buildRow(key, segment.queue, segment.channel);
      if (main.children[index + 1] !== row) main.insertBefore(row, main.children[index + 1] || null);
      var c = {
        segment: segment,
        entry: dig(segment, ["windows", config.window]),
        survey: surveys ? dig(surveys, ["by_queue", segment.queue, "windows", config.surveyWindow]) : undefined,
        surveyWindow: config.surveyWindow,
        minSample: minSample
      };
      var worst = { critical: 0, warning: 0 };
      TILES.forEach(function (tile) {
        var node = row.querySelector('.tile[data-tile="' + tile.key + '"]');
        var fig = tileFigure(tile, c, thresholds);
        if (fig.state in worst) worst[fig.state] += 1;
        node.setAttribute("data-state", fig.state);
        node.setAttribute("data-threshold-state", fig.thresholdState);
        node.setAttribute("data-value", isNum(fig.value) ? String(fig.value) : "");
        fitText(node.querySelector(".t-value"), fig.text);
        setText(node.querySelector(".t-state"), MARKERS[fig.state]);
        setText(node.querySelector(".t-note"), fig.note);
        node.setAttribute("aria-label", tile.label + " " + fig.text + " " + MARKERS[fig.state] + (fig.note ? " " + fig.note : ""));
        if (tile.survey) node.title = tile.label + " of queue " + segment.queue + " (all channels), last " + config.surveyWindow +
          (fig.note ? ", " + fig.note.replace("n=", "") + " answers" : "");
        drawSpark(node.querySelector(".t-spark"), tile, segment);
      });
      var rw = row.querySelector(".row-worst");
      var worstState = worst.critical ? "critical" : worst.warning ? "warning" : "normal";
      rw.setAttribute("data-state", worstState);
      setText(rw, worst.critical ? "■ " + worst.critical + " CRIT" : worst.warning ? "▲ " + worst.warning + " WARN" : "● OK");
    });
    Array.prototype.slice.call(main.querySelectorAll("section.row")).forEach(function (row) {
      if (!seen[row.getAttribute("data-row")]) main.removeChild(row);
    });
    empty.hidden = segments.length > 0;
    if (!segments.length) {
      empty.textContent = (dig(snap, ["calls", "segments"]) || []).length
        ? "No queue matches this filter (" + describeScope() + ")."
        : "No calls yet.";
    }
    var density = segments.length <= 2 ? "roomy" : "dense";
    var rowsChanged = document.body.getAttribute("data-density") !== density ||
      document.body.style.getPropertyValue("--rows") !== String(Math.max(segments.length, 1));
    document.body.setAttribute("data-density", density);
    document.body.style.setProperty("--rows", String(Math.max(segments.length, 1)));
    if (measureTiles() || rowsChanged) refit();
    renderSummary(snap, thresholds);
    renderStatus();
  }

  function cssEscape(s) {
    return window.CSS && CSS.escape ? CSS.escape(s) : s.replace(/["\\]/g, "\\$&");
  }

  function inFilter(list, value) { return !list || list.indexOf(value) >= 0; }

  // The header follows the queue and channel filters. Counts are summed over the
  // matching segments; a ratio is taken of the summed counters (never averaged), with
  // the rule of processors.kpis.calls.ratio: null without a denominator, capped at 1.
  function renderSummary(snap, thresholds) {
    // ticket backlog: open tickets of the matching queue|channel segments
    var backlog = document.getElementById("sum-backlog");
    var tickets = snap.tickets;
    var open = null, oldest = null;
    if (tickets) {
      if ((config.queues || config.channels) && tickets.segments) {
        open = 0; oldest = 0;
        tickets.segments.forEach(function (s) {
          if (!inFilter(config.queues, s.queue) || !inFilter(config.channels, s.channel)) return;
          open += dig(s, ["live", "open"]) || 0;
          oldest = Math.max(oldest, dig(s, ["live", "oldest_open_age_seconds"]) || 0);
        });
      } else {
        open = dig(tickets, ["all", "live", "open"]);
        oldest = dig(tickets, ["all", "live", "oldest_open_age_seconds"]);
      }
    }
    setSummary(backlog, fmtCount(open), thresholdState(thresholds.ticket_backlog, open),
      isNum(oldest) && open ? "oldest " + fmtSecs(oldest) : "");

    // cart abandonment: carts have a channel but no queue, so only the channel filter applies
    var carts = document.getElementById("sum-carts");
    var cw = CART_WINDOW[config.window];
    var fig = snap.carts ? cartFigure(snap.carts, cw) : { rate: null, open: null, aov: null };
    var aov = fmtMoney(fig.aov);
    var scope = config.channels ? " · " + config.channels.join(", ") : "";
    var note = snap.carts ? cw + scope + (isNum(fig.open) ? " · " + round(fig.open) + " open" : "") + (aov ? " · AOV " + aov : "") : "";
    setSummary(carts, fmtPct(fig.rate), thresholdState(thresholds.cart_abandonment_rate, fig.rate), note);
  }

  function cartFigure(carts, cw) {
    if (!config.channels || !carts.segments) {
      return {
        rate: dig(carts, ["all", "windows", cw, "kpis", "abandonment_rate"]),
        open: dig(carts, ["all", "live", "open"]),
        aov: dig(carts, ["all", "windows", cw, "kpis", "aov"])
      };
    }
    var sum = {}, open = 0;
    carts.segments.forEach(function (s) {
      if (!inFilter(config.channels, s.channel)) return;
      open += dig(s, ["live", "open"]) || 0;
      var counts = dig(s, ["windows", cw, "counts"]) || {};
      Object.keys(counts).forEach(function (k) { if (isNum(counts[k])) sum[k] = (sum[k] || 0) + counts[k]; });
    });
    var aov = {};
    Object.keys(sum).forEach(function (k) {
      if (k.indexOf("orders:") === 0) aov[k.slice(7)] = ratioOf(sum["revenue:" + k.slice(7)] || 0, sum[k], false);
    });
    return { rate: ratioOf(sum.abandoned || 0, sum.created || 0, true), open: open, aov: aov };
  }

  function ratioOf(numerator, denominator, capped) {
    if (!(denominator > 0)) return null;
    return capped ? Math.min(numerator / denominator, 1) : numerator / denominator;
  }

  function setSummary(node, text, st, note) {
    node.setAttribute("data-state", st);
    setText(node.querySelector(".sum-value"), text);
    setText(node.querySelector(".sum-state"), MARKERS[st]);
    setText(node.querySelector(".sum-note"), note);
  }

  function newestEvent(snap) {
    var topics = dig(snap, ["pipeline", "topics"]) || {};
    var newest = null;
    Object.keys(topics).forEach(function (t) {
      var ts = topics[t] && topics[t].last_event_ts;
      if (isNum(ts) && (newest === null || ts > newest)) newest = ts;
    });
    return newest;
  }

  function clock(epochSeconds) {
    var d = new Date(epochSeconds * 1000);
    return pad2(d.getHours()) + ":" + pad2(d.getMinutes()) + ":" + pad2(d.getSeconds());
  }

  // LIVE, or DATA STALE with its reason
  function staleness() {
    if (!state.everOk) {
      return state.failures ? { stale: true, reason: "API unreachable: " + state.lastError } : null;
    }
    if (state.failures >= 2) {
      return { stale: true, reason: "API unreachable since " + clock(state.lastOk / 1000) + " (" + state.lastError + ")" };
    }
    var snap = state.snap;
    var newest = newestEvent(snap);
    if (newest === null) return { stale: true, reason: "no event received yet" };
    var now = isNum(snap.now) ? snap.now : Date.now() / 1000;
    var age = Math.max(now - newest, 0);
    if (age > config.staleAfter) {
      return { stale: true, age: age, reason: "newest event " + fmtSecs(age) + " ago (limit " + fmtSecs(config.staleAfter) + ")" };
    }
    return { stale: false, age: age };
  }

  function renderStatus() {
    var st = staleness();
    var body = document.body;
    var status = document.getElementById("status");
    var banner = document.getElementById("stale-banner");
    var detail = document.getElementById("status-detail");
    if (st === null) {
      body.setAttribute("data-state", "loading");
      setText(status.querySelector(".status-text"), "CONNECTING…");
      setText(detail, "");
      banner.hidden = true;
      return;
    }
    body.setAttribute("data-state", st.stale ? "stale" : "live");
    body.setAttribute("data-stale", st.stale ? "true" : "false");
    setText(status.querySelector(".status-text"), st.stale ? "■ DATA STALE" : "● LIVE");
    var snap = state.snap;
    var parts = [];
    if (snap && snap.generated_at) parts.push("updated " + clock(Date.parse(snap.generated_at) / 1000));
    if (isNum(st.age)) parts.push("newest event " + fmtSecs(st.age) + " ago");
    var alive = dig(snap, ["pipeline", "workers_alive"]);
    if (isNum(alive)) parts.push("workers " + alive);
    setText(detail, parts.join(" · "));
    if (banner.hidden === st.stale) {
      banner.hidden = !st.stale;
      if (measureTiles()) refit();
    }
    setText(document.getElementById("stale-reason"), st.stale ? "— " + st.reason : "");
  }

  // ---------------------------------------------------------------------- sparklines

  function trendSeries(tile, segment) {
    if (!tile.trend || !state.trends) return null;
    if (tile.survey) return dig(state.trends, ["surveys", "by_queue", segment.queue].concat(tile.trend)) || null;
    var segs = state.trends.segments || [];
    for (var i = 0; i < segs.length; i++) {
      if (segs[i].queue === segment.queue && segs[i].channel === segment.channel) return dig(segs[i], tile.trend);
    }
    return null;
  }

  function drawSpark(node, tile, segment) {
    var values = trendSeries(tile, segment);
    var sig = values ? values.join(",") : "";
    if (node.getAttribute("data-sig") === sig) return;
    node.setAttribute("data-sig", sig);
    if (!values || !values.length) { node.innerHTML = ""; node.removeAttribute("data-points"); return; }
    var W = 120, H = 30, pad = 3;
    var nums = values.filter(isNum);
    node.setAttribute("data-points", String(nums.length));  // plotted minutes (a minute without data is a gap)
    var lo = tile.range ? tile.range[0] : 0;
    var hi = tile.ratio ? 1 : tile.range ? tile.range[1] : Math.max.apply(null, nums.concat([0]));
    if (!(hi > lo)) hi = lo + 1;
    var step = values.length > 1 ? W / (values.length - 1) : W;
    var d = "", pen = false;
    values.forEach(function (v, i) {
      if (!isNum(v)) { pen = false; return; }
      var x = (i * step).toFixed(1);
      var y = (H - pad - ((Math.min(Math.max(v, lo), hi) - lo) / (hi - lo)) * (H - 2 * pad)).toFixed(1);
      var isolated = !isNum(values[i - 1]) && !isNum(values[i + 1]);
      d += (pen ? "L" : "M") + x + " " + y + (isolated ? "h1.5" : "");
      pen = true;
    });
    // SVG parsed by the HTML parser: no namespace URL needed in this file
    node.innerHTML = '<svg viewBox="0 0 ' + W + " " + H + '" preserveAspectRatio="none" aria-hidden="true">' +
      '<path class="spark-base" d="M0 ' + (H - pad) + "H" + W + '"/>' +
      (d ? '<path class="spark-line" d="' + d + '"/>' : "") + "</svg>";
    // a related series, not the tile's own figure: said on the tile, not only in a tooltip
    if (tile.caption) node.appendChild(el("span", "spark-caption", tile.caption));
  }

  // ------------------------------------------------------------------------ polling

  function fetchJson(path) {
    var ctl = typeof AbortController === "function" ? new AbortController() : null;
    var timer = ctl ? setTimeout(function () { ctl.abort(); }, FETCH_TIMEOUT_MS) : null;
    return fetch(path, { cache: "no-store", signal: ctl ? ctl.signal : undefined })
      .then(function (resp) {
        return resp.json().catch(function () { return null; }).then(function (body) {
          if (!resp.ok) throw new Error("HTTP " + resp.status + (body && body.error ? " " + body.error : ""));
          if (!body) throw new Error("empty response");
          return body;
        });
      })
      .finally(function () { if (timer) clearTimeout(timer); });
  }

  function poll() {
    fetchJson("api/kpis")
      .then(function (snap) {
        state.snap = snap;
        state.failures = 0;
        state.lastOk = Date.now();
        state.everOk = true;
        render();
        // state changes fade in, but not the first paint
        if (!document.body.classList.contains("ready")) {
          setTimeout(function () { document.body.classList.add("ready"); }, 100);
        }
      })
      .catch(function (err) {
        state.failures += 1;
        state.lastError = err && err.name === "AbortError" ? "timeout" : String((err && err.message) || err);
        renderStatus();
      })
      .finally(function () { setTimeout(poll, config.refresh * 1000); });
  }

  function pollTrends() {
    fetchJson("api/trends?window=1h")
      .then(function (trends) { state.trends = trends; if (state.snap) render(); })
      .catch(function () { /* sparklines keep their last shape; the status comes from /api/kpis */ })
      .finally(function () { setTimeout(pollTrends, TRENDS_EVERY_MS); });
  }

  // ------------------------------------------------------------------- window links

  function describeScope() {
    var parts = [];
    parts.push(config.queues ? "queue " + config.queues.join(", ") : "all queues");
    if (config.channels) parts.push("channel " + config.channels.join(", "));
    parts.push("window " + config.window);
    return parts.join(" · ");
  }

  function syncWindowLinks() {
    var links = document.querySelectorAll("nav.windows a[data-window]");
    Array.prototype.forEach.call(links, function (a) {
      var w = a.getAttribute("data-window");
      var params = new URLSearchParams(window.location.search);
      params.set("window", w);
      a.setAttribute("href", "?" + params.toString());
      if (w === config.window) a.setAttribute("aria-current", "true");
      else a.removeAttribute("aria-current");
    });
    setText(document.getElementById("scope"), describeScope());
    setText(document.getElementById("foot"),
      "thresholds from the exporter's settings · stale after " + fmtSecs(config.staleAfter) +
      " · refresh " + config.refresh + "s · surveys " + config.surveyWindow);
  }

  function onWindowClick(event) {
    var a = event.target.closest("a[data-window]");
    if (!a) return;
    event.preventDefault();
    var params = new URLSearchParams(window.location.search);
    params.set("window", a.getAttribute("data-window"));
    history.replaceState(null, "", "?" + params.toString());
    config = readConfig();
    syncWindowLinks();
    render();
  }

  function start() {
    config = readConfig();
    var resizeTimer = null;
    window.addEventListener("resize", function () {
      clearTimeout(resizeTimer);
      resizeTimer = setTimeout(function () { measureTiles(); refit(); }, 150);
    });
    syncWindowLinks();
    document.querySelector("nav.windows").addEventListener("click", onWindowClick);
    poll();
    pollTrends();
  }

  // exposed for the browser test and for debugging from the console
  window.cxpulseWall = {
    thresholdState: thresholdState,
    format: { count: fmtCount, pct: fmtPct, secs: fmtSecs, nps: fmtNps },
    state: state,
    config: function () { return config; }
  };

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
