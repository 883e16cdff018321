import Foundation
import UNetCheckpoint

/// The architecture drawn as the U of Ronneberger et al.'s Figure 1: the encoder going down on
/// the left and the decoder up on the right, one box per feature map (height by level, width by
/// the logarithm of the channel count, clamped), the channel count above or below each box and
/// the side beside it, coloured arrows for each operation, the parameters of each level at the
/// end of its row, and a legend in the family's own words.
///
/// The SVG marks its parts for programs: `rect.feature-map` (`data-role`, `data-level`,
/// `data-channels`, `data-side`), `g.arrow` (`data-kind`, `data-from`, `data-to`: map indices in
/// drawing order), `g.level-parameters` (`data-level`, `data-encoder`, `data-decoder`),
/// `text.head-parameters` and `text.total-parameters` (`data-parameters`), `g.legend-entry`
/// (`data-kind`).
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

    /// The SVG document.
    public func render() -> String {
        let layout = DiagramLayout(plan)
        var document = SVGDocument(width: 0, height: 0)
        var right = layout.right
        document.append(contentsOf: header())
        document.append(contentsOf: plan.steps.enumerated().map { arrow(for: $1, layout: layout) })
        document.append(contentsOf: plan.maps.indices.map { box($0, layout: layout) })
        let (parameters, parametersRight) = levelParameters(layout: layout)
        right = max(right, parametersRight)
        document.append(contentsOf: parameters)
        let (footer, footerSize) = legendAndTotals(top: layout.bottom + 44)
        document.append(contentsOf: footer)
        document.width = (max(right, footerSize.right) + DiagramStyle.margin).rounded(.up)
        document.height = (footerSize.bottom + DiagramStyle.margin).rounded(.up)
        return document.render()
    }

    // MARK: Parts

    private func header() -> [SVGElement] {
        let architecture = plan.architecture
        let name = architecture.name.map { "U-Net (\($0))" } ?? "U-Net"
        let input = plan.inputSide
        let output = plan.outputSide
        let title = "\(name): \(input)×\(input) → \(output)×\(output)"
        let padding = architecture.conv.padding == .valid ? "valid" : "same-padded"
        var subtitle =
            "\(architecture.inChannels) → \(architecture.outChannels) channels, \(architecture.encoder.count) levels, "
            + "\(architecture.conv.kernel)×\(architecture.conv.kernel) \(padding) convolutions"
        if let source { subtitle += " · \(source)" }
        return [
            .text(title, x: DiagramStyle.margin, y: 34, size: 20, [("class", "title"), ("font-weight", "bold")]),
            .text(subtitle, x: DiagramStyle.margin, y: 56, size: 12, [("class", "subtitle"), ("fill", "#444444")]),
        ]
    }

    private func box(_ index: Int, layout: DiagramLayout) -> SVGElement {
        let map = plan.maps[index]
        let frame = layout.frames[index]
        let fill: String
        switch map.role {
        case .input: fill = "#eeeeee"
        case .skip: fill = "#ffffff"
        case .output: fill = "#c9ece8"
        case .conv, .pooled, .upsampled: fill = "#d3e3f6"
        }
        var children: [SVGElement] = [
            .rect(
                x: frame.x, y: frame.y, width: frame.width, height: frame.height,
                [
                    ("class", "feature-map"), ("data-index", "\(index)"), ("data-role", map.role.rawValue),
                    ("data-level", "\(map.level)"), ("data-channels", "\(map.channels)"), ("data-side", "\(map.side)"),
                    ("fill", fill), ("stroke", "#34506f"), ("stroke-width", "1.2"),
                ])
        ]
        let below = layout.channelLabelBelow(index)
        children.append(
            .text(
                "\(map.channels)", x: frame.midX, y: below ? frame.maxY + 15 : frame.y - 5, size: 12,
                anchor: "middle", [("class", "channels"), ("data-index", "\(index)")]))
        if map.role != .upsampled {
            // The up-sampled map has the side of the skip it is concatenated with: one label for both.
            children.append(
                .text(
                    "\(map.side)²", x: frame.x - 4, y: frame.maxY - 3, size: 10.5, anchor: "end",
                    [("class", "side"), ("data-index", "\(index)"), ("fill", "#555555")]))
        }
        return .group([("class", "map")], children)
    }

    private func arrow(for step: FeatureMapPlan.Step, layout: DiagramLayout) -> SVGElement {
        let from = layout.frames[step.from]
        let to = layout.frames[step.to]
        let start: (x: Double, y: Double)
        let end: (x: Double, y: Double)
        switch step.kind {
        case .conv, .copy, .head:
            let y = layout.rowCenter(plan.maps[step.to].level)
            start = (from.maxX + 3, y)
            end = (to.x - 3, y)
        case .pool:
            start = (from.midX, from.maxY + 3)
            end = (from.midX, to.y - 3)
        case .up:
            start = (from.midX, from.y - 3)
            end = (from.midX, to.maxY + 3)
        }
        return .group(
            [
                ("class", "arrow"), ("data-kind", step.kind.rawValue), ("data-from", "\(step.from)"),
                ("data-to", "\(step.to)"),
            ],
            ArrowShape.elements(from: start, to: end, color: DiagramStyle.color(step.kind)))
    }

    /// The parameters of each level, right of the row's last box; the head's with level 0.
    private func levelParameters(layout: DiagramLayout) -> ([SVGElement], right: Double) {
        var elements: [SVGElement] = []
        var right = 0.0
        for entry in plan.levelParameters {
            let x = layout.rowEnd(entry.level) + 22
            var lines: [(String, [(String, String)])] = [
                ("level \(entry.level) · 1/\(1 << entry.level)", [("font-weight", "bold")]),
                ("encoder \(grouped(entry.encoder))", [("fill", "#333333")]),
            ]
            if let decoder = entry.decoder { lines.append(("decoder \(grouped(decoder))", [("fill", "#333333")])) }
            if entry.level == 0 {
                lines.append(
                    (
                        "head \(grouped(plan.headParameters))",
                        [
                            ("class", "head-parameters"), ("data-parameters", "\(plan.headParameters)"),
                            ("fill", "#333333"),
                        ]
                    ))
            }
            var children: [SVGElement] = []
            var y = layout.rowCenter(entry.level) - Double(lines.count - 1) * 7.5 + 4
            for (text, attributes) in lines {
                children.append(.text(text, x: x, y: y, size: 12, attributes))
                right = max(right, x + TextMetrics.width(text, size: 12))
                y += 15
            }
            var attributes = [
                ("class", "level-parameters"), ("data-level", "\(entry.level)"), ("data-encoder", "\(entry.encoder)"),
            ]
            if let decoder = entry.decoder { attributes.append(("data-decoder", "\(decoder)")) }
            elements.append(.group(attributes, children))
        }
        return (elements, right)
    }

    /// The legend box (left) and the totals (right of it), from `top` down.
    private func legendAndTotals(top: Double) -> ([SVGElement], (right: Double, bottom: Double)) {
        let wording = StepWording(plan.architecture)
        let x = DiagramStyle.margin
        let rowHeight = 20.0
        var entries: [SVGElement] = [
            .text("Legend", x: x + 12, y: top + 20, size: 12, [("font-weight", "bold")])
        ]
        var y = top + 40
        var textRight = 0.0
        for kind in FeatureMapPlan.Step.Kind.allCases {
            let text = wording.text(for: kind)
            let vertical = kind == .pool || kind == .up
            let shape: [SVGElement] =
                vertical
                ? ArrowShape.elements(
                    from: (x + 30, kind == .pool ? y - 12 : y + 4), to: (x + 30, kind == .pool ? y + 4 : y - 12),
                    color: DiagramStyle.color(kind))
                : ArrowShape.elements(from: (x + 14, y - 4), to: (x + 48, y - 4), color: DiagramStyle.color(kind))
            entries.append(
                .group(
                    [("class", "legend-entry"), ("data-kind", kind.rawValue)],
                    shape + [.text(text, x: x + 60, y: y, size: 12)]))
            textRight = max(textRight, x + 60 + TextMetrics.width(text, size: 12))
            y += rowHeight
        }
        let samples: [(String, String, String)] = [
            ("feature map: channels above or below, side (pixels) beside", "#d3e3f6", "map"),
            (
                plan.architecture.skip.merge == .crop ? "copied (cropped) encoder map" : "copied encoder map",
                "#ffffff", "skip"
            ),
        ]
        for (text, fill, role) in samples {
            entries.append(
                .group(
                    [("class", "legend-entry"), ("data-kind", role)],
                    [
                        .rect(x: x + 24, y: y - 13, width: 12, height: 16, [("fill", fill), ("stroke", "#34506f")]),
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
        let input = plan.inputSide
        let output = plan.outputSide
        line(
            "input \(input)×\(input)×\(architecture.inChannels) → output \(output)×\(output)×\(architecture.outChannels)"
        )
        let activation = architecture.finalActivation
        line(
            "final activation: \(activation.rawValue)" + (activation == .none ? " (the output is logits)" : ""),
            [("class", "final-activation"), ("data-activation", activation.rawValue)])
        if !architecture.dropout.isEmpty {
            let places = architecture.dropout.map { "\(StepWording.number($0.rate)) after \($0.after)" }
            line("dropout (identity at inference): " + places.joined(separator: ", "))
        }
        if let classes, !classes.isEmpty {
            line("classes: " + classes.joined(separator: ", "), [("class", "classes")])
        }
        elements.append(.group([("class", "totals")], lines))
        return (elements, (right, max(legendBottom, lineY - 14)))
    }
}

/// Positions of the boxes of a plan.
struct DiagramLayout {
    let plan: FeatureMapPlan
    private(set) var frames: [Frame] = []
    private var rowCenters: [Double] = []

    struct Frame {
        var x: Double
        var y: Double
        var width: Double
        var height: Double
        var midX: Double { x + width / 2 }
        var maxX: Double { x + width }
        var maxY: Double { y + height }
    }

    init(_ plan: FeatureMapPlan) {
        self.plan = plan
        let levels = plan.architecture.encoder.count
        var center = DiagramStyle.top + DiagramStyle.boxHeight(level: 0) / 2
        for level in 0..<levels {
            rowCenters.append(center)
            if level + 1 < levels {
                center +=
                    DiagramStyle.boxHeight(level: level) / 2 + DiagramStyle.rowGap
                    + DiagramStyle.boxHeight(level: level + 1) / 2
            }
        }
        place()
    }

    func rowCenter(_ level: Int) -> Double { rowCenters[level] }

    /// The right edge of the rightmost box of a row.
    func rowEnd(_ level: Int) -> Double {
        plan.maps.indices.filter { plan.maps[$0].level == level }.map { frames[$0].maxX }.max() ?? 0
    }

    var right: Double { frames.map(\.maxX).max() ?? 0 }
    /// The lowest point of the boxes and their labels.
    var bottom: Double { (frames.map(\.maxY).max() ?? 0) + 16 }

    /// Whether a map's channel label goes under it: when an arrow enters or leaves its top.
    func channelLabelBelow(_ index: Int) -> Bool {
        plan.maps[index].role == .pooled || plan.steps.contains { $0.kind == .up && $0.from == index }
    }

    private mutating func place() {
        let maps = plan.maps
        let source = Dictionary(plan.steps.map { ($0.to, $0) }, uniquingKeysWith: { first, _ in first })
        let upFrom = Dictionary(
            plan.steps.filter { $0.kind == .up }.map { ($0.from, $0.to) }, uniquingKeysWith: { a, _ in a })
        frames = maps.map { map in
            let height = DiagramStyle.boxHeight(level: map.level)
            return Frame(x: 0, y: 0, width: DiagramStyle.boxWidth(channels: map.channels), height: height)
        }
        for index in maps.indices {
            let map = maps[index]
            frames[index].y = rowCenters[map.level] - frames[index].height / 2
            switch map.role {
            case .input:
                frames[index].x = DiagramStyle.margin + 16
            case .conv, .output:
                var x = frames[index - 1].maxX + DiagramStyle.gap
                if let up = upFrom[index], let copy = source[up - 1] {
                    // Leave room on the row above for the copy arrow before the skip box.
                    let needed =
                        frames[copy.from].maxX + DiagramStyle.copyGap + frames[up - 1].width + frames[up].width / 2
                        - frames[index].width / 2
                    x = max(x, needed)
                }
                frames[index].x = x
            case .pooled:
                let from = frames[source[index]!.from]
                frames[index].x = from.midX - frames[index].width / 2
            case .skip:
                // Placed with the up-sampled map that follows it.
                break
            case .upsampled:
                let from = frames[source[index]!.from]
                frames[index].x = from.midX - frames[index].width / 2
                frames[index - 1].x = frames[index].x - frames[index - 1].width
            }
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

    static func color(_ kind: FeatureMapPlan.Step.Kind) -> String {
        switch kind {
        case .conv: "#2a5caa"
        case .copy: "#8a8a8a"
        case .pool: "#c0392b"
        case .up: "#2e8b3d"
        case .head: "#12908e"
        }
    }
}

/// A straight arrow: a line and a filled head.
enum ArrowShape {
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
