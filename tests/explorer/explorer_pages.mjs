// Drives the explorer's pages in Debian's chromium and prints what it saw as one JSON object.
// Usage: node explorer_pages.mjs <config.json>; the config names the base URL, the keys, the
// measurement, a pedestrian time and where screenshots go. pytest asserts on the output.
import { readFileSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { chromium } from "playwright-core";

const config = JSON.parse(readFileSync(process.argv[2], "utf8"));
const base = config.base_url.replace(/\/$/, "");
const shots = config.screenshots;
mkdirSync(shots, { recursive: true });
const out = { console_errors: [], page_errors: [] };

const browser = await chromium.launch({
  executablePath: config.chromium,
  args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
});

async function newPage(context) {
  const page = await context.newPage();
  page.setDefaultTimeout(60000);
  page.on("console", (message) => {
    if (message.type() === "error") out.console_errors.push(message.text());
  });
  page.on("pageerror", (error) => out.page_errors.push(String(error)));
  return page;
}

try {
  // No credentials: the login page with status 401, and no data.
  const anonymous = await browser.newContext({ viewport: { width: 1400, height: 1000 } });
  const anon = await newPage(anonymous);
  const login = await anon.goto(`${base}/api/explorer`);
  out.anonymous = {
    status: login.status(),
    login_form: await anon.locator("form#login").count(),
    measurement_links: await anon.locator("a.measurement").count(),
  };
  const data = await anon.request.get(`${base}/api/drives/${config.measurement_id}/track`);
  out.anonymous.data_status = data.status();
  await anonymous.close();

  // The printed URL carries the key once: cookie, then the same page without the key.
  const context = await browser.newContext({ viewport: { width: 1400, height: 1100 } });
  const page = await newPage(context);
  await page.goto(`${base}/api/explorer?code=${encodeURIComponent(config.write_key)}`);
  const cookies = await context.cookies();
  const session = cookies.find((c) => c.name === "avops_session");
  out.login = {
    url: page.url(),
    cookie_http_only: session ? session.httpOnly : null,
    cookie_same_site: session ? session.sameSite : null,
  };
  out.catalog = {
    measurements: await page.locator("a.measurement").allTextContents(),
    shown: await page.locator("#shown").textContent(),
  };
  await page.screenshot({ path: join(shots, "catalog.png"), fullPage: true });

  // Measurement page: lineage graph with one node per datastream.
  await page.click(`a.measurement:text("${config.measurement_id}")`);
  await page.waitForSelector("#lineage[data-nodes]");
  out.measurement = {
    nodes: Number(await page.getAttribute("#lineage", "data-nodes")),
    edges: Number(await page.getAttribute("#lineage", "data-edges")),
    datastream_rows: await page.locator("#datastreams tbody tr").count(),
    download_links: await page.locator("a[download]").count(),
    run_links: await page.locator("#runs a").count(),
  };
  const first = await page.locator("a[download]").first().getAttribute("href");
  out.measurement.download_status = (await context.request.get(first)).status();
  const node = await page.evaluate(() => {
    const cy = window.explorerLineage;
    const target = cy.nodes()[cy.nodes().length - 1];
    target.emit("tap");
    return target.id();
  });
  out.measurement.tapped_hash = await page.evaluate(() => window.location.hash);
  out.measurement.tapped = node;
  await page.screenshot({ path: join(shots, "measurement.png"), fullPage: true });

  // Drive view at a pedestrian time: route, bands, frame with boxes, all on one cursor.
  await page.goto(`${base}/api/explorer/drives/${config.measurement_id}?t=${config.pedestrian_ns}`);
  await page.waitForFunction(() => document.body.dataset.ready, null, { timeout: 60000 });
  await page.waitForFunction(() => {
    const img = document.getElementById("frame");
    return img.complete && img.naturalWidth > 0 && img.dataset.loaded === img.dataset.frame;
  });
  out.drive = await page.evaluate(() => ({
    ready: document.body.dataset.ready,
    status: document.getElementById("status").textContent,
    route_points: window.driveView.routePoints,
    roads: window.driveView.roads,
    bands: window.driveView.bands,
    band_elements: document.querySelectorAll("#timeline .band").length,
    frame: window.driveView.frame,
    drawn_boxes: Array.from(document.querySelectorAll("#boxes rect")).map((r) => ({
      kind: r.getAttribute("class"), category: r.dataset.category })),
    image_width: document.getElementById("frame").naturalWidth,
    marker: window.driveView.marker,
    plots: document.querySelectorAll("#plots .uplot").length,
    tiles: document.querySelectorAll(".leaflet-tile").length,
  }));
  await page.screenshot({ path: join(shots, "drive.png"), fullPage: true });
  // Moving the cursor moves the marker and the frame together.
  const moved = await page.evaluate(() => {
    const slider = document.getElementById("cursor");
    slider.value = "0";
    slider.dispatchEvent(new Event("input"));
    return { frame: window.driveView.frame.frame, marker: window.driveView.marker };
  });
  out.drive.moved = moved;

  // Frames in pages of 10: the pedestrian time is on a later page than the first, which the
  // view loads around its cursor; moving the cursor to the start loads the first page.
  const every = await context.request.get(
    `${base}/api/drives/${config.measurement_id}/frames?limit=2000`);
  out.paged = { all: (await every.json()).items.map((f) => ({
    frame: f.frame, time_ns: f.time_ns, boxes: f.boxes.map((b) => b.category) })) };
  await page.goto(
    `${base}/api/explorer/drives/${config.measurement_id}?t=${config.pedestrian_ns}&frames_page=10`);
  await page.waitForFunction(() => document.body.dataset.ready, null, { timeout: 60000 });
  const loaded = () => {
    const img = document.getElementById("frame");
    return img.complete && img.naturalWidth > 0 && img.dataset.loaded === img.dataset.frame &&
      window.driveView.frame !== null && img.dataset.frame === String(window.driveView.frame.frame);
  };
  await page.waitForFunction(loaded);
  const seen = () => ({
    frame: window.driveView.frame,
    shown: document.getElementById("frame").dataset.loaded,
    drawn: Array.from(document.querySelectorAll("#boxes rect")).map((r) => r.dataset.category),
    requests: window.driveView.frameRequests.slice(),
    frames: window.driveView.frames,
  });
  out.paged.at_pedestrian = await page.evaluate(seen);
  await page.evaluate(() => {
    const slider = document.getElementById("cursor");
    slider.value = "0";
    slider.dispatchEvent(new Event("input"));
  });
  await page.waitForFunction(
    (first) => window.driveView.frame.frame === first, out.paged.all[0].frame);
  await page.waitForFunction(loaded);
  out.paged.at_start = await page.evaluate(seen);

  // Search: frames with a pedestrian as a thumbnail grid.
  await page.goto(`${base}/api/explorer/search?kind=frames&object=pedestrian&limit=200`);
  await page.waitForFunction(() =>
    Array.from(document.querySelectorAll("#results img")).every((i) => i.complete && i.naturalWidth > 0));
  out.search = {
    times: (await page.locator("#results a.hit").evaluateAll((as) => as.map((a) => Number(a.dataset.time)))),
    thumbnails: await page.locator("#results img").count(),
    boxes: await page.locator("#results .box").count(),
    next: await page.locator("#next").count(),
  };
  await page.screenshot({ path: join(shots, "search.png"), fullPage: true });
  await page.click("#results a.hit >> nth=0");
  await page.waitForFunction(() => document.body.dataset.ready);
  out.search.opened = { url: page.url(), cursor: await page.evaluate(() => document.body.dataset.cursor) };
  const scenes = await page.goto(`${base}/api/explorer/search?kind=scenes&scene_type=hard_brake`);
  out.scene_search = { status: scenes.status(), hits: await page.locator("#results a.hit").count() };

  // Clip: the scene tile's button starts the clip, shows progress, then the links; the
  // download link reads the file (saved for pytest to read back with the mcap library).
  const sceneClip = page.locator("#results .clip").first();
  out.clip = {
    scene: await sceneClip.getAttribute("data-scene"),
    enabled: await sceneClip.locator(".clip-button").isEnabled(),
    scenes: (await (await context.request.get(
      `${base}/api/drives/${config.measurement_id}/scenes`)).json()).items,
  };
  // Every state and status text the control goes through, as the user saw them.
  await page.evaluate(() => {
    const holder = document.querySelector("#results .clip");
    window.clipSeen = [];
    new MutationObserver(() => {
      const seen = [holder.dataset.state, holder.querySelector(".clip-status").textContent];
      const last = window.clipSeen[window.clipSeen.length - 1];
      if (!last || last[0] !== seen[0] || last[1] !== seen[1]) { window.clipSeen.push(seen); }
    }).observe(holder, { attributes: true, childList: true, subtree: true, characterData: true });
  });
  await sceneClip.locator(".clip-button").click();
  await page.waitForFunction(() =>
    !["idle", "starting"].includes(document.querySelector("#results .clip").dataset.state));
  await page.screenshot({ path: join(shots, "clip-running.png"), fullPage: true });
  await page.waitForFunction(() => {
    const state = document.querySelector("#results .clip").dataset.state;
    return state === "done" || state === "failed" || state === "error";
  }, null, { timeout: 300000 });
  out.clip.seen = await page.evaluate(() => window.clipSeen);
  out.clip.state = await sceneClip.getAttribute("data-state");
  out.clip.text = await sceneClip.locator(".clip-status").textContent();
  await page.screenshot({ path: join(shots, "clip-done.png"), fullPage: true });
  if (out.clip.state === "done") {
    const download = await sceneClip.locator("a.clip-download").getAttribute("href");
    out.clip.foxglove = await sceneClip.locator("a.clip-foxglove").getAttribute("href");
    out.clip.download = download;
    const file = await context.request.get(download);
    out.clip.download_status = file.status();
    writeFileSync(config.clip_path, await file.body());
  }
  // The explorer's status route follows clip runs only, not the platform's other runs.
  out.clip.other_run_status = (await context.request.get(
    `${base}/api/explorer/clips/${encodeURIComponent(config.ingest_instance)}`)).status();
  // A failed start shows its reason: the same control pointed at a scene that does not exist.
  await page.evaluate(() => {
    const other = document.querySelector("#results .clip");
    other.dataset.clipUrl = other.dataset.clipUrl.replace(/scenes\/[^/]+\/clip/, "scenes/no-such-scene/clip");
  });
  await sceneClip.locator(".clip-button").click();
  await page.waitForFunction(() => document.querySelector("#results .clip").dataset.state === "error");
  out.clip.missing = await sceneClip.locator(".clip-status").textContent();
  await page.screenshot({ path: join(shots, "clip-error.png"), fullPage: true });
  // A run that fails shows why: a scene whose recording is gone from the raw zone.
  await page.evaluate((scene) => {
    document.querySelector("#results .clip").dataset.clipUrl = `/api/explorer/scenes/${scene}/clip`;
  }, config.lost_scene);
  await sceneClip.locator(".clip-button").click();
  await page.waitForFunction(() =>
    ["failed", "error", "done"].includes(document.querySelector("#results .clip").dataset.state) &&
    document.querySelector("#results .clip .clip-button").disabled === false, null, { timeout: 120000 });
  out.clip.lost = {
    state: await sceneClip.getAttribute("data-state"),
    text: await sceneClip.locator(".clip-status").textContent(),
  };
  await page.screenshot({ path: join(shots, "clip-failed.png"), fullPage: true });

  // The drive view lists the scenes, each with its Clip action.
  await page.goto(`${base}/api/explorer/drives/${config.measurement_id}`);
  await page.waitForFunction(() => document.body.dataset.ready, null, { timeout: 60000 });
  out.clip.drive = {
    rows: await page.locator("#scene-list li").count(),
    enabled: await page.locator("#scene-list .clip-button:enabled").count(),
  };
  await page.screenshot({ path: join(shots, "drive-scenes.png"), fullPage: true });

  // Labeling: the exports table (none in this run) for the write session.
  const labeling = await page.goto(`${base}/api/explorer/labeling`);
  out.labeling = {
    status: labeling.status(),
    rows: await page.locator("#exports tbody tr").count(),
    empty_note: await page.locator("#no-exports").count(),
  };

  // Errors are pages: 404 for an unknown id, 400 naming the parameter.
  const missing = await page.goto(`${base}/api/explorer/measurements/no-such-measurement`);
  out.not_found = { status: missing.status(), text: await page.locator("main").textContent() };
  const bad = await page.goto(`${base}/api/explorer?from=yesterday`);
  out.bad_filter = {
    status: bad.status(),
    parameter: await page.locator("#error-parameter").textContent(),
    text: await page.locator("main").textContent(),
  };
  await page.screenshot({ path: join(shots, "bad-filter.png") });
  await context.close();

  // A read session cannot start a write.
  const reader = await browser.newContext();
  const readPage = await newPage(reader);
  await readPage.goto(`${base}/api/explorer?code=${encodeURIComponent(config.read_key)}`);
  out.read = { catalog: await readPage.locator("a.measurement").count() };
  const rerun = await readPage.request.post(`${base}/api/measurements/${config.measurement_id}/rerun`);
  out.read.rerun_status = rerun.status();
  const exported = await readPage.request.post(`${base}/api/label-exports`, {
    data: { name: "x" }, headers: { "content-type": "application/json" } });
  out.read.export_status = exported.status();
  // A read session sees the Clip buttons disabled, saying why, and cannot clip by hand either.
  await readPage.goto(`${base}/api/explorer/search?kind=scenes&scene_type=hard_brake`);
  const readButton = readPage.locator("#results .clip-button").first();
  out.read.clip_button = {
    enabled: await readButton.isEnabled(),
    title: await readButton.getAttribute("title"),
  };
  await readPage.screenshot({ path: join(shots, "clip-read-only.png"), fullPage: true });
  const clipped = await readPage.request.post(
    `${base}/api/explorer/scenes/${encodeURIComponent(out.clip.scene)}/clip`,
    { data: {}, headers: { "content-type": "application/json" } });
  out.read.clip_status = clipped.status();
  out.read.clip_detail = (await clipped.json()).detail;
  await readPage.goto(`${base}/api/explorer/drives/${config.measurement_id}`);
  await readPage.waitForFunction(() => document.body.dataset.ready, null, { timeout: 60000 });
  out.read.drive_clip_buttons = {
    rows: await readPage.locator("#scene-list li").count(),
    disabled: await readPage.locator("#scene-list .clip-button:disabled").count(),
  };
  await reader.close();
} finally {
  await browser.close();
}
process.stdout.write(JSON.stringify(out) + "\n");
