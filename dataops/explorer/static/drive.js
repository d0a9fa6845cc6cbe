// The drive view: map, scene timeline, signal plots and the frame with boxes on one cursor.
(function () {
  "use strict";
  var config = JSON.parse(document.getElementById("drive-config").textContent);
  var status = document.getElementById("status");
  var state = { ready: false, routePoints: 0, roads: 0, bands: [], frame: null };
  window.driveView = state;

  var PALETTE = {
    hard_brake: "#d32f2f", stop: "#6d4c41", lane_change: "#1976d2",
    pedestrian_in_view: "#f57c00", rain: "#0097a7", night: "#303f9f",
    turn: "#7b1fa2", high_speed: "#c2185b"
  };
  function colour(type) {
    if (PALETTE[type]) { return PALETTE[type]; }
    var hash = 0;
    for (var i = 0; i < type.length; i++) { hash = (hash * 31 + type.charCodeAt(i)) % 360; }
    return "hsl(" + hash + ", 60%, 45%)";
  }

  function getJson(url) {
    return fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) {
        if (!response.ok) {
          return response.json().then(
            function (problem) { throw new Error(url + ": " + response.status + " " + (problem.detail || "")); },
            function () { throw new Error(url + ": " + response.status); });
        }
        return response.json();
      });
  }

  // Index of the last element of sorted `values` <= x (0 when x is before the first).
  function floorIndex(values, x) {
    var lo = 0, hi = values.length - 1;
    if (hi < 0 || x <= values[0]) { return 0; }
    while (lo < hi) {
      var mid = (lo + hi + 1) >> 1;
      if (values[mid] <= x) { lo = mid; } else { hi = mid - 1; }
    }
    return lo;
  }
  function nearestIndex(values, x) {
    var i = floorIndex(values, x);
    if (i + 1 < values.length && Math.abs(values[i + 1] - x) < Math.abs(values[i] - x)) { return i + 1; }
    return i;
  }

  function drawMap(track) {
    var map = L.map("map", { attributionControl: false, preferCanvas: false });
    if (config.tile_url) { L.tileLayer(config.tile_url, { maxZoom: 19 }).addTo(map); }
    track.roads.forEach(function (road) {
      L.polyline(road.points, { color: "#9e9e9e", weight: 6, opacity: 0.7, className: "road" }).addTo(map);
    });
    var points = [];
    for (var i = 0; i < track.time_ns.length; i++) {
      if (track.latitude[i] !== null && track.longitude[i] !== null) {
        points.push([track.latitude[i], track.longitude[i]]);
      }
    }
    var route = L.polyline(points, { color: "#1565c0", weight: 3, className: "route" }).addTo(map);
    if (points.length) { map.fitBounds(route.getBounds(), { padding: [20, 20] }); } else { map.setView([0, 0], 2); }
    var marker = L.circleMarker(points[0] || [0, 0], { radius: 7, color: "#000", fillColor: "#ffeb3b", fillOpacity: 1, className: "cursor-marker" }).addTo(map);
    state.routePoints = route.getLatLngs().length;
    state.roads = track.roads.length;
    document.getElementById("map").dataset.points = String(state.routePoints);
    return function (t) {
      if (!points.length) { return; }
      var times = track.time_ns, i = nearestIndex(times, t);
      if (track.latitude[i] === null) { return; }
      marker.setLatLng([track.latitude[i], track.longitude[i]]);
      state.marker = [track.latitude[i], track.longitude[i]];
    };
  }

  function drawTimeline(scenes, start, end, seek) {
    var holder = document.getElementById("timeline");
    var span = Math.max(1, end - start);
    scenes.items.forEach(function (scene) {
      var band = document.createElement("div");
      band.className = "band";
      band.dataset.type = scene.type;
      band.dataset.start = String(scene.start_ns);
      band.title = scene.type;
      band.textContent = scene.type;
      band.style.left = (100 * (scene.start_ns - start) / span) + "%";
      band.style.width = Math.max(0.3, 100 * (scene.end_ns - scene.start_ns) / span) + "%";
      band.style.background = colour(scene.type);
      holder.appendChild(band);
      state.bands.push({ type: scene.type, start_ns: scene.start_ns, end_ns: scene.end_ns });
    });
    listScenes(scenes, start, seek);
    var now = document.createElement("div");
    now.className = "now";
    holder.appendChild(now);
    holder.addEventListener("click", function (event) {
      var box = holder.getBoundingClientRect();
      seek(start + span * (event.clientX - box.left) / box.width);
    });
    return function (t) { now.style.left = (100 * (t - start) / span) + "%"; };
  }

  // One row per scene: its type and times (a click moves the cursor there) and its Clip action.
  function listScenes(scenes, start, seek) {
    var list = document.getElementById("scene-list");
    scenes.items.forEach(function (scene) {
      var item = document.createElement("li");
      item.dataset.scene = scene.id;
      item.dataset.type = scene.type;
      var name = document.createElement("a");
      name.href = "#";
      name.className = "scene-seek";
      name.textContent = scene.type + " at " + ((scene.start_ns - start) / 1e9).toFixed(1) + " s, " +
        ((scene.end_ns - scene.start_ns) / 1e9).toFixed(1) + " s long";
      name.addEventListener("click", function (event) { event.preventDefault(); seek(scene.start_ns); });
      item.appendChild(name);
      var url = config.clip_url.replace("{scene}", encodeURIComponent(scene.id));
      item.appendChild(window.explorerClips.control(url, config.clip_denied, scene.id));
      list.appendChild(item);
    });
  }

  function drawPlots(signals, seek) {
    var holder = document.getElementById("plots");
    var seconds = signals.time_ns.map(function (t) { return (t - signals.time_ns[0]) / 1e9; });
    var sync = uPlot.sync("drive");
    var width = Math.max(320, holder.clientWidth || 900);
    var series = [
      ["speed_mps", "Speed (m/s)", "#1565c0"],
      ["accel_long_mps2", "Long. acceleration (m/s\u00b2)", "#c62828"],
      ["yaw_rate_rps", "Yaw rate (rad/s)", "#2e7d32"]
    ];
    var plots = series.map(function (item) {
      var div = document.createElement("div");
      div.className = "plot";
      div.dataset.signal = item[0];
      holder.appendChild(div);
      var plot = new uPlot({
        width: width, height: 150, title: item[1],
        cursor: { sync: { key: sync.key }, drag: { x: false, y: false } },
        scales: { x: { time: false } },
        series: [{ label: "s" }, { label: item[1], stroke: item[2], width: 1.5, spanGaps: false }],
        axes: [{ label: "drive time (s)" }, {}]
      }, [seconds, signals[item[0]]], div);
      plot.over.addEventListener("click", function () {
        var index = plot.cursor.idx;
        if (index !== null && index !== undefined) { seek(signals.time_ns[index]); }
      });
      return plot;
    });
    return function (t) {
      var i = nearestIndex(signals.time_ns, t);
      plots.forEach(function (plot) {
        var left = plot.valToPos(seconds[i], "x");
        plot.setCursor({ left: left, top: 10 });
      });
    };
  }

  function drawFrame(frames) {
    var img = document.getElementById("frame");
    var svg = document.getElementById("boxes");
    var info = document.getElementById("frame-info");
    var ns = "http://www.w3.org/2000/svg";
    if (frames.width && frames.height) {
      svg.setAttribute("viewBox", "0 0 " + frames.width + " " + frames.height);
      svg.setAttribute("preserveAspectRatio", "none");
    }
    img.addEventListener("load", function () { img.dataset.loaded = img.dataset.frame; });
    return function (item) {
      while (svg.firstChild) { svg.removeChild(svg.firstChild); }
      item.boxes.forEach(function (box) {
        var rect = document.createElementNS(ns, "rect");
        rect.setAttribute("class", box.kind);
        rect.setAttribute("x", box.x_min);
        rect.setAttribute("y", box.y_min);
        rect.setAttribute("width", box.x_max - box.x_min);
        rect.setAttribute("height", box.y_max - box.y_min);
        rect.dataset.category = box.category;
        svg.appendChild(rect);
        var text = document.createElementNS(ns, "text");
        text.setAttribute("x", box.x_min);
        text.setAttribute("y", Math.max(10, box.y_min - 2));
        text.textContent = box.category + (box.score !== null && box.score !== undefined ? " " + box.score.toFixed(2) : "");
        svg.appendChild(text);
      });
      if (item.has_image) {
        img.dataset.frame = String(item.frame);
        img.src = config.image.replace("{frame}", String(item.frame));
      }
      info.textContent = "frame " + item.frame + ", " + new Date(item.time_ns / 1e6).toISOString() +
        ", " + item.boxes.length + " boxes";
      state.frame = { frame: item.frame, time_ns: item.time_ns, boxes: item.boxes };
    };
  }

  // Frames come in pages of config.frames_page around the cursor: a long drive never loads
  // all its frames (and their boxes) at once. The cursor runs over every frame's time, which
  // the signals route already has (one value per reference frame).
  function framePages(url, size) {
    var pages = [], wanted = null, KEEP = 4;
    state.frameRequests = [];
    function covering(t) {
      for (var p = 0; p < pages.length; p++) {
        var items = pages[p].items;
        if (items.length && items[0].time_ns <= t &&
            (t <= items[items.length - 1].time_ns || !pages[p].continuation)) { return pages[p]; }
      }
      return null;
    }
    function fromPage(page, t) {
      var times = page.items.map(function (f) { return f.time_ns; });
      return page.items[nearestIndex(times, t)];
    }
    // Calls show(item) with the frame nearest t, loading the page that holds it if needed;
    // an answer for a cursor that has moved on since is kept but not shown.
    return function (t, startNs, show) {
      wanted = t;
      var page = covering(t);
      if (page) { show(fromPage(page, t)); return; }
      // Times arrive as doubles (ns since 1970 has more digits than a double holds): start a
      // little early so the frame at startNs is in the page.
      var from = Math.max(0, startNs - 1000);
      state.frameRequests.push(from);
      getJson(url + "?limit=" + size + "&from_ns=" + from.toFixed(0)).then(function (answer) {
        pages.push(answer);
        if (pages.length > KEEP) { pages.shift(); }
        if (wanted === t) { show(fromPage(answer, t)); }
      }).catch(function (error) {
        status.textContent = "Could not load frames: " + error.message;
        status.className = "status error";
      });
    };
  }

  Promise.all([getJson(config.track), getJson(config.signals), getJson(config.scenes),
               getJson(config.frames + "?limit=1")])
    .then(function (answers) {
      var track = answers[0], signals = answers[1], scenes = answers[2], firstPage = answers[3];
      var times = signals.time_ns.slice().sort(function (a, b) { return a - b; });
      var start = Math.min(times[0] || 0, track.time_ns[0] || Infinity);
      var end = Math.max(times[times.length - 1] || 0, track.time_ns[track.time_ns.length - 1] || 0);
      var slider = document.getElementById("cursor");
      var label = document.getElementById("cursor-time");
      var half = Math.floor(config.frames_page / 2);
      var frameAt = framePages(config.frames, config.frames_page);
      var moveMarker, moveBand, movePlots, showFrame;
      function seek(t) {
        var i = nearestIndex(times, t);
        slider.value = String(i);
        update(i);
      }
      function update(i) {
        var t = times[i];
        if (t === undefined) { return; }
        moveMarker(t);
        moveBand(t);
        movePlots(t);
        // The page starts half a page before the cursor: moving either way stays in it.
        frameAt(t, times[Math.max(0, i - half)], showFrame);
        label.textContent = ((t - start) / 1e9).toFixed(1) + " s";
        document.body.dataset.cursor = String(t);
      }
      moveMarker = drawMap(track);
      moveBand = drawTimeline(scenes, start, end, seek);
      movePlots = drawPlots(signals, seek);
      showFrame = drawFrame(firstPage);
      slider.max = String(Math.max(0, times.length - 1));
      slider.addEventListener("input", function () { update(Number(slider.value)); });
      state.seek = seek;
      state.frames = times.length;
      seek(config.t !== null && config.t !== undefined ? config.t : start);
      state.ready = true;
      status.textContent = times.length + " frames, " + state.routePoints + " route points, " +
        state.bands.length + " scenes";
      document.body.dataset.ready = "1";
    })
    .catch(function (error) {
      status.textContent = "Could not load the drive: " + error.message;
      status.className = "status error";
      document.body.dataset.ready = "error";
    });
})();
