import Foundation
import TestSupport
import Testing
import UNetCheckpoint
import UNetDrawing

/// The drawn U, read back as XML: its boxes, labels, arrows and counts against the architecture.
@Suite("Architecture drawing")
struct DiagramTests {
    /// A fixture checkpoint's architecture and metadata (no tensor data read).
    static func fixture(_ name: String) throws -> CheckpointFile { try CheckpointFile(path: Fixtures.path(name)) }

    /// The drawing of `architecture` at `side` (every axis), parsed.
    static func drawing(
        _ architecture: UNetArchitecture, side: Int, classes: [String]? = nil
    ) throws -> (FeatureMapPlan, ParsedSVG) {
        let plan = try FeatureMapPlan(network: try architecture.network(), inputSide: side)
        let svg = UNetDiagram(plan: plan, classes: classes, source: "test").render()
        return (plan, try ParsedSVG(Data(svg.utf8)))
    }

    /// The network's default output side for a square input of `side`.
    static func outputSide(_ architecture: UNetArchitecture, _ side: Int) throws -> Int? {
        try architecture.network().outputSize(forInputSize: [side, side])?.first
    }

    struct Box {
        let role: String
        let level: Int
        let channels: Int
        let side: Int
        let mergedWith: Int?
    }

    static func boxes(_ svg: ParsedSVG) throws -> [Box] {
        try svg.elements(class: "feature-map").map {
            Box(
                role: $0[attribute: "data-role"] ?? "", level: $0.integer("data-level") ?? -1,
                channels: $0.integer("data-channels") ?? -1, side: $0.integer("data-side") ?? -1,
                mergedWith: $0.integer("data-merged-with"))
        }
    }

    static func arrows(_ svg: ParsedSVG) throws -> [(kind: String, from: Int, to: Int)] {
        try svg.elements(class: "arrow").map {
            ($0[attribute: "data-kind"] ?? "", $0.integer("data-from") ?? -1, $0.integer("data-to") ?? -1)
        }
    }

    /// The 1.0 families and fixtures the structural tests run on (migrated to 2.0), with an input
    /// side each; the 1.0 description gives the expectations.
    static let cases: [(String, ArchitectureV1, Int)] = {
        var cases: [(String, ArchitectureV1, Int)] = []
        for (name, side) in [
            ("h5py/paper-tiny.h5", 92), ("h5py/milesial-tiny.h5", 101), ("h5py/milesial-bilinear-tiny-f16.h5", 64),
            ("examples/paper-small.h5", 572),
        ] {
            cases.append((name, try! fixture(name).architecture.version1!, side))
        }
        cases.append(("paper()", .paper(), 572))
        cases.append(("monaiBasicUNet()", .monaiBasicUNet(), 97))
        cases.append(("kerasFunctional()", .kerasFunctional(), 256))
        // One convolution per level and a wide skip: the copy arrow still needs its room.
        let narrow = ArchitectureV1(
            name: "narrow <&>", inChannels: 3, outChannels: 1,
            encoder: [.init(convs: [2048]), .init(convs: [4])], decoder: [.init(upChannels: 2048, convs: [1])],
            conv: .init(kernel: 3, padding: .valid, bias: true), upsample: .transposed(),
            skip: .init(order: .skipFirst, merge: .crop))
        cases.append(("one conv per level", narrow, 20))
        let deep = ArchitectureV1.paper(widths: (0..<11).map { 1 << $0 })
        let deepNetwork = try! UNetArchitecture(deep).network()
        cases.append(("eleven levels", deep, FeatureMapPlan.defaultInputSize(for: deepNetwork)![0]))
        return cases
    }()

    /// Every architecture the layout tests draw: the 1.0 cases and the hand-built 2.0 networks.
    static let allCases: [(String, UNetArchitecture, Int)] =
        cases.map { ($0.0, UNetArchitecture($0.1), $0.2) } + [
            ("residual attention 2.0", Networks2.residualAttention, 64), ("3-D", Networks2.volumetric, 16),
        ]

    @Test("the root is an svg element with a width, height and matching viewBox", arguments: allCases.map(\.0))
    func root(name: String) throws {
        let (_, architecture, side) = try #require(Self.allCases.first { $0.0 == name })
        let (_, svg) = try Self.drawing(architecture, side: side)
        #expect(svg.root.localName == "svg")
        let width = try #require(svg.root.number("width"))
        let height = try #require(svg.root.number("height"))
        #expect(svg.root[attribute: "viewBox"] == "0 0 \(Int(width)) \(Int(height))")
        // Every box and every left-aligned text lies inside the canvas.
        for rect in try svg.elements(named: "rect") {
            let x = try #require(rect.number("x"))
            let y = try #require(rect.number("y"))
            #expect(x >= 0 && y >= 0 && x + (rect.number("width") ?? 0) <= width)
            #expect(y + (rect.number("height") ?? 0) <= height)
        }
    }

    @Test("one box per feature map, with the channels of the architecture's channel plan", arguments: cases.map(\.0))
    func boxesFollowTheChannelPlan(name: String) throws {
        let (_, architecture, side) = try #require(Self.cases.first { $0.0 == name })
        let (_, svg) = try Self.drawing(UNetArchitecture(architecture), side: side)
        let boxes = try Self.boxes(svg)
        let arrows = try Self.arrows(svg)
        let plan = architecture.channelPlan
        let depth = architecture.depth
        let convs =
            architecture.encoder.map(\.convs.count).reduce(0, +)
            + architecture.decoder.map(\.convs.count)
            .reduce(0, +) + architecture.head.convs.count
        // Input, conv outputs, a pooled map per lower level, up-sampled + skip per decoder level, output.
        #expect(boxes.count == 1 + convs + depth + 2 * depth + 1)
        #expect(boxes.first?.role == "input" && boxes.first?.channels == architecture.inChannels)
        #expect(boxes.last?.role == "output" && boxes.last?.channels == architecture.outChannels)
        for level in architecture.encoder.indices {
            let row = boxes.filter {
                $0.level == level && ($0.role == "input" || $0.role == "pooled" || $0.role == "conv")
            }
            let encoderRow = Array(row.prefix(1 + architecture.encoder[level].convs.count))
            #expect(encoderRow.first?.channels == plan.encoderInputs[level], "level \(level) input")
            #expect(encoderRow.dropFirst().map(\.channels) == architecture.encoder[level].convs, "level \(level) convs")
        }
        for level in architecture.decoder.indices {
            let up = try #require(arrows.first { $0.kind == "up" && boxes[$0.to].level == level })
            #expect(boxes[up.from].channels == plan.decoderBelow[level])
            #expect(boxes[up.to].channels == architecture.decoder[level].upChannels)
            #expect(boxes[up.to + 1].role == "skip" && boxes[up.to + 1].mergedWith == up.to)
            #expect(boxes[up.to + 1].channels == architecture.encoder[level].convs.last)
            let convBoxes = boxes[(up.to + 2)...].prefix(architecture.decoder[level].convs.count)
            #expect(convBoxes.map(\.channels) == architecture.decoder[level].convs)
        }
        let head = try #require(arrows.first { $0.kind == "head" })
        #expect(boxes[head.from].channels == (architecture.head.convs.last?.channels ?? plan.headInput))
        // The labels say what the boxes carry.
        let labels = try svg.elements(class: "channels").map { $0.stringValue ?? "" }
        #expect(labels == boxes.map { "\($0.channels)" })
    }

    @Test("every arrow follows its family's size arithmetic, ending at outputSide", arguments: cases.map(\.0))
    func sizesFollowTheArithmetic(name: String) throws {
        let (_, architecture, side) = try #require(Self.cases.first { $0.0 == name })
        let (plan, svg) = try Self.drawing(UNetArchitecture(architecture), side: side)
        let boxes = try Self.boxes(svg)
        let shrink = architecture.conv.padding == .valid ? architecture.conv.kernel - 1 : 0
        #expect(boxes.first?.side == side)
        let arrows = try Self.arrows(svg)
        // The head's extra convolutions (the last conv arrows) are always same-padded.
        let headConvs = Set(arrows.filter { $0.kind == "conv" }.suffix(architecture.head.convs.count).map(\.to))
        for arrow in arrows {
            let from = boxes[arrow.from].side
            let to = boxes[arrow.to].side
            switch arrow.kind {
            case "conv":
                #expect(to == from - (headConvs.contains(arrow.to) ? 0 : shrink), "conv \(arrow.from) → \(arrow.to)")
            case "pool": #expect(to == from / 2)
            case "up":
                let skipSource = boxes[arrow.to + 1]
                #expect(skipSource.mergedWith == arrow.to && skipSource.side == to)
                switch architecture.skip.merge {
                case .crop: #expect(to == 2 * from)
                case .pad: #expect(to >= 2 * from)
                case .padReplicateEnd: #expect(to == 2 * from || to == 2 * from + 1)
                }
            case "copy":
                // Cropping keeps the centre (an even difference); padding keeps the skip whole.
                if architecture.skip.merge == .crop {
                    #expect(to <= from && (from - to) % 2 == 0)
                } else {
                    #expect(to == from)
                }
            case "head": #expect(to == from)
            default: Issue.record("unknown arrow kind \(arrow.kind)")
            }
        }
        let expected = try Self.outputSide(UNetArchitecture(architecture), side)
        #expect(expected != nil && boxes.last?.side == expected)
        #expect(plan.outputSize == [expected ?? 0, expected ?? 0])
        if name == "paper()" { #expect(plan.outputSize == [388, 388]) }
        let sideLabels = try svg.elements(class: "side").map { $0.stringValue ?? "" }
        #expect(sideLabels == boxes.filter { $0.role != "upsampled" }.map { "\($0.side)²" })
        #expect(try svg.elements(class: "feature-map").allSatisfy { $0[attribute: "data-size"] == nil })
    }

    @Test("the paper-tiny sizes agree with the tiling references the real PyTorch model produced")
    func tilingReferences() throws {
        let network = try Self.fixture("h5py/paper-tiny.h5").architecture.network()
        for name in ["paper-tiny-whole", "paper-tiny-tile92"] {
            let input = try Self.npyShape(Fixtures.path("tiling/\(name).input.npy"))
            let output = try Self.npyShape(Fixtures.path("tiling/\(name).output.npy"))
            // Whole-image pairs map side to side; tiled ones were run on tiles of 92.
            let sides = name.hasSuffix("whole") ? Array(zip(input.suffix(2), output.suffix(2))) : [(92, nil)]
            for (inSide, outSide) in sides {
                let plan = try FeatureMapPlan(network: network, inputSide: inSide)
                if let outSide { #expect(plan.outputSize == [outSide, outSide]) }
            }
        }
        #expect(try FeatureMapPlan(network: network, inputSide: 92).outputSize == [52, 52])
    }

    /// The `shape` of a `.npy` header.
    static func npyShape(_ path: String) throws -> [Int] {
        let header = String(decoding: try Data(contentsOf: URL(fileURLWithPath: path)).prefix(256), as: UTF8.self)
        let start = try #require(header.range(of: "'shape': ("))
        let end = try #require(header[start.upperBound...].firstIndex(of: ")"))
        return header[start.upperBound..<end].split(separator: ",").compactMap {
            Int($0.trimmingCharacters(in: .whitespaces))
        }
    }

    @Test("arrows of each kind: a conv per convolution, pools, ups and copies per level, one head")
    func arrowCounts() throws {
        for (name, architecture, side) in Self.cases {
            let (_, svg) = try Self.drawing(UNetArchitecture(architecture), side: side)
            let kinds = try Self.arrows(svg).map(\.kind)
            let convs =
                (architecture.encoder.map(\.convs.count) + architecture.decoder.map(\.convs.count))
                .reduce(0, +) + architecture.head.convs.count
            #expect(kinds.filter { $0 == "conv" }.count == convs, "\(name)")
            for kind in ["pool", "up", "copy"] {
                #expect(kinds.filter { $0 == kind }.count == architecture.depth, "\(name) \(kind)")
            }
            #expect(kinds.filter { $0 == "head" }.count == 1, "\(name)")
            #expect(kinds.allSatisfy { ["conv", "pool", "up", "copy", "head"].contains($0) }, "\(name)")
        }
    }

    @Test("the legend names each arrow in the family's words")
    func legend() throws {
        let expected: [(String, [String: String])] = [
            (
                "h5py/paper-tiny.h5",
                [
                    "conv": "3×3 conv, ReLU (unpadded)", "copy": "copy and crop", "pool": "2×2 max pool",
                    "up": "2×2 up-conv", "head": "1×1 conv (logits)",
                ]
            ),
            (
                "h5py/milesial-tiny.h5",
                [
                    "conv": "3×3 conv, batch norm, ReLU (same padding)",
                    "copy": "copy and concatenate (pad the up-sampled map)", "up": "2×2 up-conv",
                ]
            ),
            ("h5py/milesial-bilinear-tiny-f16.h5", ["up": "bilinear ×2 up"]),
        ]
        for (name, texts) in expected {
            let (_, svg) = try Self.drawing(try Self.fixture(name).architecture, side: 64)
            let entries = try svg.elements(class: "legend-entry")
            #expect(
                Set(entries.compactMap { $0[attribute: "data-kind"] }).isSuperset(of: [
                    "conv", "copy", "pool", "up", "head",
                ]))
            // One entry per wording: a 1.0 network has one of each arrow kind.
            #expect(entries.filter { $0[attribute: "data-kind"] == "conv" }.count == 1, "\(name)")
            for (kind, text) in texts {
                let entry = try #require(entries.first { $0[attribute: "data-kind"] == kind })
                #expect(entry.descendants(named: "text").first?.stringValue == text, "\(name) \(kind)")
            }
        }
        let keras = try Self.drawing(UNetArchitecture(.kerasFunctional()), side: 256).1
        let entries = try keras.elements(class: "legend-entry")
        let text = entries.first { $0[attribute: "data-kind"] == "head" }
        #expect(text?.descendants(named: "text").first?.stringValue == "1×1 conv + sigmoid")
        let up = entries.first { $0[attribute: "data-kind"] == "up" }
        #expect(up?.descendants(named: "text").first?.stringValue == "nearest ×2 up, 2×2 conv, ReLU")
        let monai = try Self.drawing(UNetArchitecture(.monaiBasicUNet()), side: 97).1
        let texts = try monai.elements(class: "legend-entry").map { $0.descendants(named: "text").first?.stringValue }
        #expect(texts.contains("3×3 conv, instance norm, LeakyReLU(0.1) (same padding)"))
        #expect(texts.contains("copy and concatenate (replicate-pad the up-sampled map)"))
        let activation = try keras.elements(class: "final-activation").first
        #expect(activation?[attribute: "data-activation"] == "sigmoid")
    }

    @Test("the parameters per level and the head sum to the checkpoint's total")
    func parameters() throws {
        for name in ["paper-tiny", "milesial-tiny", "milesial-bilinear-tiny-f16"] {
            let expected = try Fixtures.expected(name)
            let (_, svg) = try Self.drawing(try Self.fixture("h5py/\(name).h5").architecture, side: 64)
            func count(_ prefix: String) -> Int {
                expected.tensors.filter { $0.key.hasPrefix(prefix) }.reduce(0) { $0 + $1.shape.reduce(1, *) }
            }
            var sum = 0
            for level in try svg.elements(class: "level-parameters") {
                let index = try #require(level.integer("data-level"))
                let encoder = try #require(level.integer("data-encoder"))
                #expect(encoder == count("encoder.\(index)."))
                #expect((level.integer("data-decoder") ?? 0) == count("decoder.\(index)."))
                sum += encoder + (level.integer("data-decoder") ?? 0)
            }
            let heads = try svg.elements(class: "head-parameters").compactMap { $0.integer("data-parameters") }
            #expect(heads.count == 1)
            let head = heads.reduce(0, +)
            #expect(head == count("head."))
            for stage in try svg.elements(class: "stage-parameters") {
                let name = try #require(stage[attribute: "data-name"])
                #expect(stage.integer("data-parameters") == count("\(name)."), "\(name)")
            }
            #expect(sum + head == expected.totalParameters)
            let total = try svg.elements(class: "total-parameters").first
            #expect(total?.integer("data-parameters") == expected.totalParameters)
        }
    }

    @Test("no two boxes overlap, nor two box labels (at estimated text widths)")
    func layoutIsClean() throws {
        for (name, architecture, side) in Self.allCases {
            let (_, svg) = try Self.drawing(architecture, side: side)
            let rects = try svg.elements(class: "feature-map").map {
                ($0.number("x")!, $0.number("y")!, $0.number("width")!, $0.number("height")!)
            }
            for i in rects.indices {
                for j in rects.indices where j > i {
                    let a = rects[i]
                    let b = rects[j]
                    let overlaps =
                        a.0 + 0.01 < b.0 + b.2 && b.0 + 0.01 < a.0 + a.2 && a.1 < b.1 + b.3 && b.1 < a.1 + a.3
                    #expect(!overlaps, "\(name): boxes \(i) and \(j) overlap")
                }
            }
            // Arrows point the way they should, with room for their heads.
            for arrow in try svg.elements(class: "arrow") {
                // The last segment carries the head.
                let line = try #require(arrow.descendants(named: "line").last)
                let (x1, y1, x2, y2) = (line.number("x1")!, line.number("y1")!, line.number("x2")!, line.number("y2")!)
                switch arrow[attribute: "data-kind"] {
                case "pool": #expect(x1 == x2 && y2 > y1, "\(name)")
                case "up": #expect(x1 == x2 && y2 < y1, "\(name)")
                case "residual" where arrow[attribute: "data-via"] == "shortcut":
                    #expect(x1 == x2 && y2 > y1, "\(name): a shortcut comes down into its sum")
                default: #expect(y1 == y2 && x2 - x1 >= 20, "\(name): \(arrow[attribute: "data-kind"] ?? "")")
                }
            }
            // Text labels of boxes do not overlap each other (estimated widths).
            let labels = try (svg.elements(class: "channels") + svg.elements(class: "side")).map { text in
                let size = text.number("font-size")!
                let width = Double((text.stringValue ?? "").count) * size * 0.62
                let x = text.number("x")!
                let left =
                    text[attribute: "text-anchor"] == "middle"
                    ? x - width / 2 : (text[attribute: "text-anchor"] == "end" ? x - width : x)
                return (left, text.number("y")! - size, width, size)
            }
            for i in labels.indices {
                for j in labels.indices where j > i {
                    let a = labels[i]
                    let b = labels[j]
                    let overlaps = a.0 < b.0 + b.2 && b.0 < a.0 + a.2 && a.1 < b.1 + b.3 && b.1 < a.1 + a.3
                    #expect(!overlaps, "\(name): labels \(i) and \(j) overlap")
                }
            }
        }
    }

    @Test("the output is byte-identical from run to run")
    func deterministic() throws {
        let architecture = try Self.fixture("h5py/milesial-tiny.h5").architecture
        let plan = try FeatureMapPlan(network: try architecture.network(), inputSide: 101)
        let first = UNetDiagram(plan: plan, classes: ["a"], source: "x").render()
        let second = UNetDiagram(
            plan: try FeatureMapPlan(network: try architecture.network(), inputSide: 101), classes: ["a"], source: "x"
        ).render()
        #expect(first == second)
    }

    @Test("class names and file names are escaped: the SVG stays well-formed XML")
    func escaping() throws {
        let classes = ["<&>", "say \"hi\"", "it's", "bell\u{7}"]
        let (_, svg) = try Self.drawing(.paper(widths: [4, 8, 16]), side: 92, classes: classes)
        #expect(try svg.elements(class: "title").first?.stringValue == "U-Net (paper): 92×92 → 52×52")
        let text = try #require(try svg.elements(class: "classes").first?.stringValue)
        #expect(text == "classes: <&>, say \"hi\", it's, bell\u{FFFD}")
        #expect(SVGEscaping.attribute("a<b&\"c\"") == "a&lt;b&amp;&quot;c&quot;")
        #expect(SVGNumber.format(12.345) == "12.35" && SVGNumber.format(-0.5) == "-0.5" && SVGNumber.format(3) == "3")
    }

    @Test("an input side that gives no whole sizes is refused, naming the nearest valid sides")
    func invalidSide() throws {
        let network = try Self.fixture("h5py/paper-tiny.h5").architecture.network()
        let nearest = network.nearestValidInputSides(to: 570, axis: 0)
        let below = try #require(nearest.below)
        let above = try #require(nearest.above)
        #expect(below < 570 && above > 570)
        #expect(throws: DrawingError.invalidInputSize([570, 570], axis: 0, below: below, above: above)) {
            try FeatureMapPlan(network: network, inputSide: 570)
        }
        // The second axis is checked too.
        #expect(throws: DrawingError.invalidInputSize([92, 570], axis: 1, below: below, above: above)) {
            try FeatureMapPlan(network: network, inputSize: [92, 570])
        }
        #expect(throws: DrawingError.wrongAxisCount([92], expected: 2)) {
            try FeatureMapPlan(network: network, inputSize: [92])
        }
        let message = DrawingError.invalidInputSize([570, 570], axis: 0, below: below, above: above).description
        #expect(
            message
                == "input size 570 does not give whole feature-map sizes through this network; "
                + "the nearest valid sizes are \(below) and \(above)")
    }

    @Test("the default side: the training tile if valid, else 572 for valid convs and 256 for same padding")
    func defaultSide() throws {
        let paper = try UNetArchitecture.paper().network()
        #expect(FeatureMapPlan.defaultInputSize(for: paper) == [572, 572])
        #expect(FeatureMapPlan.defaultInputSize(for: try UNetArchitecture.milesial().network()) == [256, 256])
        let tiny = try Self.fixture("h5py/paper-tiny.h5")
        let tile = tiny.metadata.training?.tileSize
        let expected = try tile.flatMap { try Self.outputSide(tiny.architecture, $0) != nil ? $0 : nil } ?? 572
        #expect(
            FeatureMapPlan.defaultInputSize(for: try tiny.architecture.network(), metadata: tiny.metadata)
                == [expected, expected])
        var metadata = CheckpointMetadata()
        metadata.training = CheckpointMetadata.Training(tileSize: 188)
        #expect(FeatureMapPlan.defaultInputSize(for: paper, metadata: metadata) == [188, 188])
        metadata.training = CheckpointMetadata.Training(tileSize: 190)
        #expect(FeatureMapPlan.defaultInputSize(for: paper, metadata: metadata) == [572, 572])
        #expect(FeatureMapPlan.defaultInputSize(for: try Networks2.volumetric.network()) == [128, 128, 128])
    }
}
