import Foundation
import UNetCheckpoint

/// The network drawn as the U of Ronneberger et al.'s Figure 1: the encoder going down on the
/// left and the decoder up on the right, one box per feature map of the ``FeatureMapPlan`` (height
/// by level, width by the logarithm of the channel count, clamped), the channel count above or
/// below each box and its size beside it (`572²`, or `D×H×W` for volumes and `H×W` for
/// rectangles), coloured arrows for each operation, the parameters of each stage at the end of
/// its row, and a legend that words each operation present.
///
/// The SVG marks its parts for programs:
/// - `rect.feature-map`: `data-index` (drawing order), `data-role` (``FeatureMapPlan/Map/Role``),
///   `data-level`, `data-channels`, `data-side` (the first axis' side), `data-size` (every side,
///   `D×H×W`, for 3-D networks and non-square inputs), `data-node` (the network node shown) and,
///   on the skip part of a merged map, `data-merged-with` (the index of its up-sampled part);
/// - `g.arrow`: `data-kind` (``FeatureMapPlan/Step/Kind``), `data-from`, `data-to` (map indices),
///   `data-via` when the plan names the operation (`max_pool`, `strided_conv`, `interpolate`,
///   `crop`, `shortcut`, …) and `data-gate` (the gating map of an attention gate);
/// - `g.level-parameters` (`data-level`, `data-encoder`, `data-decoder`: the sums of the stages
///   ending at the level), holding one `text.stage-parameters` per encoder or decoder stage and
///   one `text.head-parameters` per head (`data-section`, `data-name`, `data-parameters`);
/// - `text.total-parameters` (`data-parameters`), `text.final-activation` (`data-activation`);
/// - `g.legend-entry` (`data-kind`: an arrow kind, one entry per distinct wording, or a box
///   sample `map`, `skip`, `gated`, `sum`).
public struct UNetDiagram: Sendable {
    public let plan: FeatureMapPlan
    /// Class names to list (from the metadata), if any.
    public var classes: [String]?
    /// Where the drawing comes from (a file name), shown under the title.
    public var source: String?

    public init(plan: FeatureMapPlan, classes: [String]? = nil, source: String? = nil) {
        self.plan = plan
        self.classes = classes
        self.source = source
    }

    /// The SVG document as text.
    public func render() -> String { document().render() }

    /// The SVG document: the arrows (`g.arrow`) and boxes (`g.map`) of the U first, then the
    /// parameters, the legend and the totals.
    public func document() -> SVGDocument {
        let layout = DiagramLayout(plan)
        var document = SVGDocument(width: 0, height: 0)
        var right = layout.right
        document.append(contentsOf: header())
        document.append(contentsOf: plan.steps.map { arrow(for: $0, layout: layout) })
        document.append(contentsOf: plan.maps.indices.map { box($0, layout: layout) })
        let (parameters, parametersRight) = levelParameters(layout: layout)
        right = max(right, parametersRight)
        document.append(contentsOf: parameters)
        let (footer, footerSize) = legendAndTotals(top: layout.bottom + 44)
        document.append(contentsOf: footer)
        document.width = (max(right, footerSize.right) + DiagramStyle.margin).rounded(.up)
        document.height = (footerSize.bottom + DiagramStyle.margin).rounded(.up)
        return document
    }

    /// A size as the drawing writes it: `572×572`, `64×64×64`.
    public static func sizeText(_ size: [Int]) -> String { size.map(String.init).joined(separator: "×") }

    // MARK: Parts

    private func header() -> [SVGElement] {
        let architecture = plan.architecture
        let name = architecture.name.map { "U-Net (\($0))" } ?? "U-Net"
        let title = "\(name): \(Self.sizeText(plan.inputSize)) → \(Self.sizeText(plan.outputSize))"
        let levels = Set(plan.maps.map(\.level)).count
        var subtitle =
            "\(architecture.spatialDims)-D, \(architecture.inChannels) → \(plan.network.outputChannels) channels, "
            + "\(levels) levels, \(architecture.encoder.count) encoder and \(architecture.decoder.count) decoder stages"
        if architecture.heads.count > 1 { subtitle += ", \(architecture.heads.count) heads" }
        if let source { subtitle += " · \(source)" }
        return [
            .text(title, x: DiagramStyle.margin, y: 34, size: 20, [("class", "title"), ("font-weight", "bold")]),
            .text(subtitle, x: DiagramStyle.margin, y: 56, size: 12, [("class", "subtitle"), ("fill", "#444444")]),
        ]
    }

    private func box(_ index: Int, layout: DiagramLayout) -> SVGElement {
        let map = plan.maps[index]
        let frame = layout.frames[index]
        var attributes: [(String, String)] = [
            ("class", "feature-map"), ("data-index", "\(index)"), ("data-role", map.role.rawValue),
            ("data-level", "\(map.level)"), ("data-channels", "\(map.channels)"), ("data-side", "\(map.side)"),
        ]
        if layout.showsFullSize { attributes.append(("data-size", Self.sizeText(map.size))) }
        attributes.append(("data-node", "\(map.node)"))
        if let merge = plan.merges.first(where: { $0.skip == index }) {
            attributes.append(("data-merged-with", "\(merge.upsampled)"))
        }
        attributes += [("fill", DiagramStyle.fill(map.role)), ("stroke", "#34506f"), ("stroke-width", "1.2")]
        var children: [SVGElement] = [
            .rect(x: frame.x, y: frame.y, width: frame.width, height: frame.height, attributes)
        ]
        let below = layout.channelLabelBelow(index)
        children.append(
            .text(
                "\(map.channels)", x: frame.midX, y: below ? frame.maxY + 15 : frame.y - 5, size: 12,
                anchor: "middle", [("class", "channels"), ("data-index", "\(index)")]))
        if !plan.merges.contains(where: { $0.upsampled == index }) {
            // The up-sampled part of a merged map has the size of the skip beside it: one label for both.
            children.append(
                .text(
                    layout.sizeLabel(map), x: frame.x - 4, y: frame.maxY - 3, size: DiagramStyle.sizeFont,
                    anchor: "end", [("class", "side"), ("data-index", "\(index)"), ("fill", "#555555")]))
        }
        return .group([("class", "map")], children)
    }

    private func arrow(for step: FeatureMapPlan.Step, layout: DiagramLayout) -> SVGElement {
        var attributes = [
            ("class", "arrow"), ("data-kind", step.kind.rawValue), ("data-from", "\(step.from)"),
            ("data-to", "\(step.to)"),
        ]
        if let via = step.via { attributes.append(("data-via", via)) }
        if let gate = step.gate { attributes.append(("data-gate", "\(gate)")) }
        return .group(
            attributes, ArrowShape.elements(layout.path(for: step), color: DiagramStyle.color(step.kind)))
    }

    /// The parameters of each stage, right of its row's last box.
    private func levelParameters(layout: DiagramLayout) -> ([SVGElement], right: Double) {
        var elements: [SVGElement] = []
        var right = 0.0
        let levels = plan.levelParameters
        let headLevels = plan.stageParameters.filter { $0.section == .head }.map(\.level)
        for level in Set(levels.map(\.level) + headLevels).sorted() {
            let entry = levels.first { $0.level == level }
            let scale = level >= 0 ? "1/\(1 << min(level, 62))" : "×\(1 << min(-level, 62))"
            var lines: [(String, [(String, String)])] = [("level \(level) · \(scale)", [("font-weight", "bold")])]
            for stage in plan.stageParameters where stage.level == level {
                let label = stage.section == .head ? "head" : "stage"
                lines.append(
                    (
                        "\(stage.name) \(grouped(stage.parameters))",
                        [
                            ("class", "\(label)-parameters"), ("data-section", stage.section.rawValue),
                            ("data-name", stage.name), ("data-parameters", "\(stage.parameters)"), ("fill", "#333333"),
                        ]
                    ))
            }
            var children: [SVGElement] = []
            var y = layout.rowCenter(level) - Double(lines.count - 1) * 7.5 + 4
            let x = layout.rowEnd(level) + 22
            for (text, attributes) in lines {
                children.append(.text(text, x: x, y: y, size: 12, attributes))
                right = max(right, x + TextMetrics.width(text, size: 12))
                y += 15
            }
            var attributes = [
                ("class", "level-parameters"), ("data-level", "\(level)"), ("data-encoder", "\(entry?.encoder ?? 0)"),
            ]
            if let decoder = entry?.decoder { attributes.append(("data-decoder", "\(decoder)")) }
            elements.append(.group(attributes, children))
        }
        return (elements, right)
    }

    /// The legend box (left) and the totals (right of it), from `top` down.
    private func legendAndTotals(top: Double) -> ([SVGElement], (right: Double, bottom: Double)) {
        let wording = StepWording(plan.network)
        let x = DiagramStyle.margin
        let rowHeight = 20.0
        var entries: [SVGElement] = [
            .text("Legend", x: x + 12, y: top + 20, size: 12, [("font-weight", "bold")])
        ]
        var y = top + 40
        var textRight = 0.0
        var seen: [(FeatureMapPlan.Step.Kind, String)] = []
        for kind in FeatureMapPlan.Step.Kind.allCases {
            for step in plan.steps where step.kind == kind {
                let text = wording.text(for: step)
                if !seen.contains(where: { $0 == (kind, text) }) { seen.append((kind, text)) }
            }
        }
        for (kind, text) in seen {
            let shape: [SVGElement]
            switch kind {
            case .pool:
                shape = ArrowShape.elements([(x + 30, y - 12), (x + 30, y + 4)], color: DiagramStyle.color(kind))
            case .up: shape = ArrowShape.elements([(x + 30, y + 4), (x + 30, y - 12)], color: DiagramStyle.color(kind))
            default: shape = ArrowShape.elements([(x + 14, y - 4), (x + 48, y - 4)], color: DiagramStyle.color(kind))
            }
            entries.append(
                .group(
                    [("class", "legend-entry"), ("data-kind", kind.rawValue)],
                    shape + [.text(text, x: x + 60, y: y, size: 12)]))
            textRight = max(textRight, x + 60 + TextMetrics.width(text, size: 12))
            y += rowHeight
        }
        let roles = Set(plan.maps.map(\.role))
        var samples: [(String, FeatureMapPlan.Map.Role, String)] = [
            ("feature map: channels above or below, size beside", .conv, "map")
        ]
        if roles.contains(.skip) {
            let cropped = plan.steps.contains { $0.kind == .copy && $0.via == "crop" }
            samples.append((cropped ? "copied (cropped) encoder map" : "copied encoder map", .skip, "skip"))
        }
        if roles.contains(.gated) { samples.append(("attention-gated encoder map", .gated, "gated")) }
        if roles.contains(.sum) { samples.append(("residual sum", .sum, "sum")) }
        for (text, role, kind) in samples {
            entries.append(
                .group(
                    [("class", "legend-entry"), ("data-kind", kind)],
                    [
                        .rect(
                            x: x + 24, y: y - 13, width: 12, height: 16,
                            [("fill", DiagramStyle.fill(role)), ("stroke", "#34506f")]),
                        .text(text, x: x + 60, y: y, size: 12),
                    ]))
            textRight = max(textRight, x + 60 + TextMetrics.width(text, size: 12))
            y += rowHeight
        }
        let legendRight = textRight + 14
        let legendBottom = y - 6
        var elements: [SVGElement] = [
            .group(
                [("class", "legend")],
                [
                    .rect(
                        x: x, y: top, width: legendRight - x, height: legendBottom - top,
                        [("fill", "#fafafa"), ("stroke", "#bbbbbb"), ("rx", "6")])
                ] + entries)
        ]

        let architecture = plan.architecture
        let totalsX = legendRight + 36
        var lines: [SVGElement] = []
        var lineY = top + 20
        var right = legendRight
        func line(_ text: String, _ attributes: [(String, String)] = [], size: Double = 12) {
            lines.append(.text(text, x: totalsX, y: lineY, size: size, attributes))
            right = max(right, totalsX + TextMetrics.width(text, size: size))
            lineY += 20
        }
        let totals = plan.levelParameters.reduce(into: (encoder: 0, decoder: 0)) {
            $0.encoder += $1.encoder
            $0.decoder += $1.decoder ?? 0
        }
        line(
            "\(grouped(plan.totalParameters)) parameters",
            [("class", "total-parameters"), ("data-parameters", "\(plan.totalParameters)"), ("font-weight", "bold")],
            size: 13)
        line(
            "encoder \(grouped(totals.encoder)) · decoder \(grouped(totals.decoder)) · head \(grouped(plan.headParameters))"
        )
        line(
            "input \(Self.sizeText(plan.inputSize + [architecture.inChannels])) → output "
                + Self.sizeText(plan.outputSize + [plan.network.outputChannels]))
        let activation = architecture.finalActivation
        line(
            "final activation: \(activation.rawValue)" + (activation == .none ? " (the output is logits)" : ""),
            [("class", "final-activation"), ("data-activation", activation.rawValue)])
        // Rate-0 dropouts (MONAI's defaults) compute nothing even in training: not listed.
        var places: [String] = []
        for dropout in plan.dropouts where dropout.rate > 0 {
            let place = "\(StepWording.number(dropout.rate)) in \(dropout.stage)"
            if !places.contains(place) { places.append(place) }
        }
        if !places.isEmpty {
            line("dropout (identity at inference): " + places.joined(separator: ", "))
        }
        if let classes, !classes.isEmpty {
            line("classes: " + classes.joined(separator: ", "), [("class", "classes")])
        }
        elements.append(.group([("class", "totals")], lines))
        return (elements, (right, max(legendBottom, lineY - 14)))
    }
}

/// Positions of the boxes of a plan and the paths of its arrows.
struct DiagramLayout {
    let plan: FeatureMapPlan
    private(set) var frames: [Frame] = []
    private var rowCenters: [Int: Double] = [:]
    /// The step that made each map (the first step into it).
    private let creator: [Int: FeatureMapPlan.Step]
    /// Whether boxes are labelled with every side (volumes, rectangles) rather than `side²`.
    let showsFullSize: Bool
    /// The horizontal gap between boxes (wider for long size labels).
    private let gap: Double

    struct Frame {
        var x: Double
        var y: Double
        var width: Double
        var height: Double
        var midX: Double { x + width / 2 }
        var midY: Double { y + height / 2 }
        var maxX: Double { x + width }
        var maxY: Double { y + height }
    }

    init(_ plan: FeatureMapPlan) {
        self.plan = plan
        let full = plan.architecture.spatialDims != 2 || plan.maps.contains { Set($0.size).count > 1 }
        showsFullSize = full
        var creator: [Int: FeatureMapPlan.Step] = [:]
        for step in plan.steps where creator[step.to] == nil { creator[step.to] = step }
        self.creator = creator
        let widest =
            plan.maps.map { Self.sizeLabel($0, full: full) }.map {
                TextMetrics.width($0, size: DiagramStyle.sizeFont)
            }.max() ?? 0
        gap = max(DiagramStyle.gap, widest + 14)
        let levels = plan.maps.map(\.level)
        let (top, bottom) = (levels.min() ?? 0, levels.max() ?? 0)
        var center = DiagramStyle.top + DiagramStyle.boxHeight(level: top) / 2
        for level in top...bottom {
            rowCenters[level] = center
            center +=
                DiagramStyle.boxHeight(level: level) / 2 + DiagramStyle.rowGap
                + DiagramStyle.boxHeight(level: level + 1) / 2
        }
        place()
    }

    func rowCenter(_ level: Int) -> Double { rowCenters[level] ?? DiagramStyle.top }

    /// The right edge of the rightmost box of a row.
    func rowEnd(_ level: Int) -> Double {
        plan.maps.indices.filter { plan.maps[$0].level == level }.map { frames[$0].maxX }.max() ?? 0
    }

    var right: Double { frames.map(\.maxX).max() ?? 0 }
    /// The lowest point of the boxes and their labels.
    var bottom: Double { (frames.map(\.maxY).max() ?? 0) + 16 }

    func sizeLabel(_ map: FeatureMapPlan.Map) -> String { Self.sizeLabel(map, full: showsFullSize) }

    static func sizeLabel(_ map: FeatureMapPlan.Map, full: Bool) -> String {
        full ? UNetDiagram.sizeText(map.size) : "\(map.side)²"
    }

    /// Whether a map's channel label goes under it: when an arrow enters or leaves its top.
    func channelLabelBelow(_ index: Int) -> Bool {
        plan.steps.contains { step in
            (step.kind == .up && step.from == index) || (step.kind == .pool && step.to == index)
                || (step.kind == .residual && step.to == index && step.via == "shortcut")
        }
    }

    /// The points of an arrow.
    func path(for step: FeatureMapPlan.Step) -> [(x: Double, y: Double)] {
        let from = frames[step.from]
        let to = frames[step.to]
        switch step.kind {
        case .pool:
            guard abs(to.midX - from.midX) > 0.5 else { return [(from.midX, from.maxY + 3), (from.midX, to.y - 3)] }
            // The lower map had to move right (room for a copy above it): down, across, down.
            let y = (from.maxY + to.y) / 2
            return [(from.midX, from.maxY + 3), (from.midX, y), (to.midX, y), (to.midX, to.y - 3)]
        case .up:
            return [(from.midX, from.y - 3), (from.midX, to.maxY + 3)]
        case .residual where step.via == "shortcut":
            let fromLevel = plan.maps[step.from].level
            let toLevel = plan.maps[step.to].level
            if fromLevel == toLevel {
                // Over the row: up from the unit's input, across, down into the sum.
                let y = min(from.y, to.y) - 24
                return [
                    (from.x + from.width * 0.75, from.y - 3), (from.x + from.width * 0.75, y), (to.x + 3, y),
                    (to.x + 3, to.y - 3),
                ]
            }
            // Down a level: under the input, across the gap, into the sum from above.
            let y = to.y - 24
            return [
                (from.x + from.width * 0.8, from.maxY + 3), (from.x + from.width * 0.8, y), (to.x + 3, y),
                (to.x + 3, to.y - 3),
            ]
        default:
            let y = rowCenter(plan.maps[step.to].level)
            return [(from.maxX + 3, y), (to.x - 3, y)]
        }
    }

    private mutating func place() {
        let maps = plan.maps
        frames = maps.map { map in
            Frame(
                x: 0, y: 0, width: DiagramStyle.boxWidth(channels: map.channels),
                height: DiagramStyle.boxHeight(level: map.level))
        }
        let skipOf = Dictionary(plan.merges.map { ($0.upsampled, $0.skip) }, uniquingKeysWith: { a, _ in a })
        let upFrom = Dictionary(
            plan.steps.filter { $0.kind == .up }.map { ($0.from, $0.to) }, uniquingKeysWith: { a, _ in a })
        var rowRight: [Int: Double] = [:]
        for index in maps.indices {
            let map = maps[index]
            frames[index].y = rowCenter(map.level) - frames[index].height / 2
            let step = creator[index]
            if let merge = plan.merges.first(where: { $0.skip == index }) {
                // Beside the up-sampled part it is concatenated with.
                frames[index].x = frames[merge.upsampled].x - frames[index].width
            } else if let step {
                // Straight below or above the map it comes from, or right of it.
                let vertical = step.kind == .pool || step.kind == .up
                var x =
                    vertical
                    ? frames[step.from].midX - frames[index].width / 2
                    : max(frames[step.from].maxX, rowRight[map.level] ?? 0) + gap
                if let up = upFrom[index], let skip = skipOf[up], let copy = creator[skip] {
                    // Leave room on the row above for the copy arrow before the skip box.
                    let needed =
                        frames[copy.from].maxX + DiagramStyle.copyGap + frames[skip].width + frames[up].width / 2
                        - frames[index].width / 2
                    x = max(x, needed)
                }
                frames[index].x = x
            } else {
                frames[index].x = DiagramStyle.margin + 16 + max(0, gap - DiagramStyle.gap)
            }
            rowRight[map.level] = max(rowRight[map.level] ?? 0, frames[index].maxX)
        }
    }
}

/// Sizes and colours of the drawing.
enum DiagramStyle {
    static let margin = 24.0
    /// The top of the first row's boxes' band (below the title and the labels above boxes).
    static let top = 96.0
    static let gap = 40.0
    static let copyGap = 48.0
    static let rowGap = 58.0

    static func boxHeight(level: Int) -> Double { max(44, 150 * pow(0.75, Double(level))) }

    /// 6 px + 5 px per doubling of the channels, at least 10 px (two one-channel boxes side by
    /// side keep their labels apart) and at most 64 px.
    static func boxWidth(channels: Int) -> Double {
        min(64, max(10, 6 + 5 * log2(Double(max(channels, 1)))))
    }

    static let sizeFont = 10.5

    static func color(_ kind: FeatureMapPlan.Step.Kind) -> String {
        switch kind {
        case .conv: "#2a5caa"
        case .copy: "#8a8a8a"
        case .pool: "#c0392b"
        case .up: "#2e8b3d"
        case .attention: "#d9822b"
        case .residual: "#7b4fa8"
        case .head: "#12908e"
        }
    }

    static func fill(_ role: FeatureMapPlan.Map.Role) -> String {
        switch role {
        case .input: "#eeeeee"
        case .skip: "#ffffff"
        case .gated: "#fde7c8"
        case .sum: "#e6dcf2"
        case .output: "#c9ece8"
        case .conv, .pooled, .upsampled: "#d3e3f6"
        }
    }
}

/// An arrow along straight segments: lines and a filled head at the end.
enum ArrowShape {
    static func elements(_ points: [(x: Double, y: Double)], color: String) -> [SVGElement] {
        guard points.count > 2 else { return elements(from: points[0], to: points[points.count - 1], color: color) }
        var lines: [SVGElement] = []
        for index in 0..<(points.count - 2) {
            lines.append(.line(from: points[index], to: points[index + 1], [("stroke", color), ("stroke-width", "2")]))
        }
        return lines + elements(from: points[points.count - 2], to: points[points.count - 1], color: color)
    }

    static func elements(from start: (x: Double, y: Double), to end: (x: Double, y: Double), color: String)
        -> [SVGElement]
    {
        let dx = end.x - start.x
        let dy = end.y - start.y
        let length = max((dx * dx + dy * dy).squareRoot(), 1)
        let (ux, uy) = (dx / length, dy / length)
        let headLength = min(8, length)
        let base = (x: end.x - ux * headLength, y: end.y - uy * headLength)
        let halfWidth = 4.5
        return [
            .line(from: start, to: base, [("stroke", color), ("stroke-width", "2")]),
            .polygon(
                [
                    end, (base.x - uy * halfWidth, base.y + ux * halfWidth),
                    (base.x + uy * halfWidth, base.y - ux * halfWidth),
                ], [("fill", color)]),
        ]
    }
}

/// Estimated text widths (DejaVu Sans averages), to size the canvas.
enum TextMetrics {
    static func width(_ text: String, size: Double) -> Double { Double(text.count) * size * 0.62 }
}

/// `31,030,658`.
func grouped(_ value: Int) -> String {
    let digits = String(value.magnitude)
    var output = ""
    for (offset, character) in digits.enumerated() {
        if offset > 0 && (digits.count - offset) % 3 == 0 { output += "," }
        output.append(character)
    }
    return (value < 0 ? "-" : "") + output
}
