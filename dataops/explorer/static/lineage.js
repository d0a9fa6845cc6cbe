// The measurement page's lineage graph: one node per datastream, edges from sources.
(function () {
  "use strict";
  var holder = document.getElementById("lineage");
  var data = document.getElementById("lineage-data");
  if (!holder || !data || typeof cytoscape === "undefined") { return; }
  // cytoscape-dagre registers its layout itself when it loads after cytoscape.
  var colours = { COMPLETED: "#2e7d32", FAILED: "#c62828", PROCESSING: "#ef8f00", CREATED: "#607d8b" };
  var cy = cytoscape({
    container: holder,
    elements: JSON.parse(data.textContent),
    style: [
      { selector: "node", style: {
        "label": "data(label)", "text-wrap": "wrap", "text-valign": "center", "color": "#fff",
        "font-size": 10, "shape": "round-rectangle", "width": 110, "height": 40,
        "background-color": function (n) { return colours[n.data("state")] || "#455a64"; } } },
      { selector: "edge", style: {
        "width": 2, "line-color": "#90a4ae", "target-arrow-color": "#90a4ae",
        "target-arrow-shape": "triangle", "curve-style": "bezier" } }
    ],
    layout: { name: typeof cytoscapeDagre !== "undefined" ? "dagre" : "breadthfirst", rankDir: "LR" }
  });
  cy.on("tap", "node", function (event) {
    // Opening a node: jump to its datastream row and its files.
    var id = event.target.id();
    window.location.hash = "ds-" + id;
    var row = document.getElementById("ds-" + id);
    if (row) { row.scrollIntoView(); }
  });
  holder.dataset.nodes = String(cy.nodes().length);
  holder.dataset.edges = String(cy.edges().length);
  window.explorerLineage = cy;
})();
