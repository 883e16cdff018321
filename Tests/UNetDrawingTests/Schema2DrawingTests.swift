import Foundation
import TestSupport
import Testing
import UNetCheckpoint
import UNetDrawing

/// Hand-built schema 2.0 networks that 1.0 cannot describe.
enum Networks2 {
    static func conv(_ name: String, _ out: Int, kernel: Int = 3, stride: Int = 1, dims: Int = 2) -> Layer {
        let k = [Int](repeating: kernel, count: dims)
        return .conv(
            Layer.Conv(
                name: name, out: out, kernel: k, stride: [Int](repeating: stride, count: dims),
                padding: .explicit(k.map { $0 / 2 }), bias: false))
    }
    static func norm(_ name: String) -> Layer { .norm(Layer.Norm(name: name, kind: .instance, eps: 1e-5)) }
    static let leaky = Layer.activation(Layer.Activation(.leakyReLU, negativeSlope: 0.01))

    /// Strided-conv encoder with residual units, a transposed-conv decoder stage with an
    /// attention gate on its skip, a nearest-up stage without one, and a 1×1 head.
    static let residualAttention: UNetArchitecture = {
        let unit0 = Layer.residual(
            Layer.Residual(
                name: "res", body: [conv("conv0", 8), norm("norm0"), leaky, conv("conv1", 8), norm("norm1")],
                shortcut: [conv("proj", 8, kernel: 1)], after: [leaky]))
        let unit1 = Layer.residual(
            Layer.Residual(name: "res", body: [conv("conv0", 16), norm("norm0")], after: [leaky]))
        let gate = UNetArchitecture.AttentionGate(
            name: "attention", gate: [conv("gate", 4, kernel: 1)], skip: [conv("skip", 4, kernel: 1)],
            layers: [.activation(Layer.Activation(.relu)), conv("psi", 1, kernel: 1)])
        return UNetArchitecture(
            name: "residual-attention", inChannels: 1,
            encoder: [
                .init(name: "encoder.0", layers: [unit0]),
                .init(name: "encoder.1", layers: [conv("down", 16, stride: 2), norm("norm"), leaky, unit1]),
                .init(name: "encoder.2", layers: [conv("down", 32, stride: 2), norm("norm"), leaky]),
            ],
            decoder: [
                .init(
                    name: "decoder.1",
                    up: [
                        .convTranspose(
                            Layer.ConvTranspose(name: "up", out: 16, kernel: [2, 2], stride: [2, 2], bias: true))
                    ],
                    skip: 1, merge: .init(order: .skipFirst, match: .exact), attention: gate,
                    layers: [conv("conv0", 16), norm("norm0"), leaky]),
                .init(
                    name: "decoder.0", up: [.interpolate(Layer.Interpolate(mode: .nearest, scale: [2, 2]))], skip: 0,
                    merge: .init(order: .upsampledFirst, match: .exact), layers: [conv("conv0", 8), leaky]),
            ],
            heads: [.init(name: "head", from: 1, layers: [conv("out", 3, kernel: 1)])])
    }()

    /// A 3-D network pooling only in-plane at its lowest level (anisotropic sizes).
    static let volumetric: UNetArchitecture = {
        func block(_ name: String, _ out: Int) -> [Layer] {
            [conv("\(name)", out, dims: 3), norm("\(name)n"), .activation(Layer.Activation(.relu))]
        }
        return UNetArchitecture(
            name: "volume", spatialDims: 3, inChannels: 2,
            encoder: [
                .init(name: "encoder.0", layers: block("conv0", 4)),
                .init(name: "encoder.1", layers: [.maxPool(Layer.Pool(kernel: [2, 2, 2]))] + block("conv0", 8)),
                .init(name: "encoder.2", layers: [.maxPool(Layer.Pool(kernel: [1, 2, 2]))] + block("conv0", 16)),
            ],
            decoder: [
                .init(
                    name: "decoder.1",
                    up: [
                        .convTranspose(
                            Layer.ConvTranspose(name: "up", out: 8, kernel: [1, 2, 2], stride: [1, 2, 2], bias: true))
                    ],
                    skip: 1, merge: .init(order: .skipFirst, match: .exact), layers: block("conv0", 8)),
                .init(
                    name: "decoder.0",
                    up: [
                        .convTranspose(
                            Layer.ConvTranspose(name: "up", out: 4, kernel: [2, 2, 2], stride: [2, 2, 2], bias: true))
                    ],
                    skip: 0, merge: .init(order: .skipFirst, match: .exact), layers: block("conv0", 4)),
            ],
            heads: [
                .init(
                    name: "head", from: 1,
                    layers: [conv("out", 3, kernel: 1, dims: 3), .activation(Layer.Activation(.softmax))])
            ])
    }()
}

@Suite("Drawing schema 2.0 networks")
struct Schema2DrawingTests {
    static func parsed(_ plan: FeatureMapPlan) throws -> ParsedSVG {
        try ParsedSVG(Data(UNetDiagram(plan: plan, source: "test").render().utf8))
    }

    @Test("strided convs, residual units and an attention gate: their maps, arrows and words")
    func residualAttention() throws {
        let network = try Networks2.residualAttention.network()
        let plan = try FeatureMapPlan(network: network, inputSide: 64)
        let roles = plan.maps.map(\.role)
        #expect(roles.filter { $0 == .sum }.count == 2)
        #expect(roles.filter { $0 == .gated }.count == 1 && roles.filter { $0 == .skip }.count == 1)
        #expect(roles.filter { $0 == .output }.count == 1 && roles.last == .output)
        #expect(roles.filter { $0 == .pooled }.isEmpty)
        // Every map has the side of its level.
        for map in plan.maps { #expect(map.size == [64 >> map.level, 64 >> map.level], "\(map)") }
        #expect(plan.outputSize == [64, 64] && plan.maps.last?.channels == 3)

        let pools = plan.steps.filter { $0.kind == .pool }
        #expect(pools.count == 2 && pools.allSatisfy { $0.via == "strided_conv" })
        #expect(pools.allSatisfy { plan.maps[$0.to].level == plan.maps[$0.from].level + 1 })
        let residual = plan.steps.filter { $0.kind == .residual }
        #expect(residual.map(\.via) == ["sum", "shortcut", "sum", "shortcut"])
        // The first shortcut starts at the input, the second at the strided conv's map.
        #expect(plan.maps[residual[1].from].role == .input)
        #expect(residual[1].to == residual[0].to && plan.maps[residual[1].to].role == .sum)
        let ups = plan.steps.filter { $0.kind == .up }
        #expect(ups.map(\.via) == ["conv_transpose", "interpolate"])
        let attention = try #require(plan.steps.first { $0.kind == .attention })
        #expect(attention.gate == ups[0].to)
        #expect(plan.maps[attention.to].role == .gated && plan.maps[attention.to].level == 1)
        #expect(plan.maps[attention.from].node == network.encoderOutputs[1])
        #expect(plan.merges.count == 2)
        #expect(plan.merges[0].skip == attention.to && plan.merges[0].upsampled == ups[0].to)
        #expect(plan.merges.map(\.channels) == [32, 24])
        let copies = plan.steps.filter { $0.kind == .copy }
        #expect(copies.count == 1 && copies[0].via == "exact" && plan.maps[copies[0].from].level == 0)
        #expect(plan.steps.filter { $0.kind == .head }.count == 1)

        // Every node of the network is drawn: as a map or in the words of an arrow.
        let shown = Set(plan.maps.map(\.node) + plan.steps.flatMap(\.nodes))
        #expect(shown == Set(network.nodes.indices))

        let wording = StepWording(network)
        let texts = Set(plan.steps.map { wording.text(for: $0) })
        for text in [
            "3×3 conv, instance norm, LeakyReLU(0.01) (same padding)",
            "strided 3×3 conv (down), instance norm, LeakyReLU(0.01)",
            "residual shortcut (1×1 conv)", "residual shortcut", "residual sum, LeakyReLU(0.01)", "attention gate",
            "2×2 up-conv", "nearest ×2 up", "copy and concatenate", "1×1 conv (logits)",
        ] {
            #expect(texts.contains(text), "\(text) in \(texts.sorted())")
        }

        let svg = try Self.parsed(plan)
        let entries = try svg.elements(class: "legend-entry")
        let kinds = Set(entries.compactMap { $0[attribute: "data-kind"] })
        #expect(kinds.isSuperset(of: ["conv", "pool", "up", "copy", "attention", "residual", "head", "gated", "sum"]))
        let arrow = try #require(try svg.elements(class: "arrow").first { $0[attribute: "data-kind"] == "attention" })
        #expect(arrow.integer("data-gate") == ups[0].to)
        #expect(
            try svg.elements(class: "arrow").filter { $0[attribute: "data-via"] == "strided_conv" }.count == 2)

        // Parameters per stage from the nodes' tensors.
        var sum = 0
        for stage in try svg.elements(class: "stage-parameters") + svg.elements(class: "head-parameters") {
            let name = try #require(stage[attribute: "data-name"])
            let expected = network.tensorSpecs.filter { $0.key.hasPrefix(name + ".") }.reduce(0) {
                $0 + $1.elementCount
            }
            #expect(stage.integer("data-parameters") == expected, "\(name)")
            sum += expected
        }
        #expect(sum == network.parameterCount)
        #expect(try svg.elements(class: "total-parameters").first?.integer("data-parameters") == network.parameterCount)
    }

    @Test("a 3-D network: maps labelled D×H×W, anisotropic pooling, a data-size on every box")
    func volumetric() throws {
        let network = try Networks2.volumetric.network()
        let plan = try FeatureMapPlan(network: network, inputSize: [16, 64, 64])
        #expect(plan.outputSize == [16, 64, 64])
        let svg = try Self.parsed(plan)
        let rects = try svg.elements(class: "feature-map")
        #expect(rects.count == plan.maps.count)
        for (rect, map) in zip(rects, plan.maps) {
            let sides = try #require(rect[attribute: "data-size"]).split(separator: "×").compactMap { Int($0) }
            #expect(sides == map.size && sides.count == 3)
            #expect(rect.integer("data-side") == map.size[0])
        }
        let deepest = try #require(plan.maps.first { $0.level == 2 })
        #expect(deepest.size == [8, 16, 16])
        let labels = try svg.elements(class: "side").compactMap(\.stringValue)
        #expect(labels.first == "16×64×64" && labels.contains("8×16×16"))
        #expect(labels.allSatisfy { $0.split(separator: "×").count == 3 })
        #expect(
            try svg.elements(class: "title").first?.stringValue == "U-Net (volume): 16×64×64 → 16×64×64")
        let texts = try svg.elements(class: "legend-entry").compactMap {
            $0.descendants(named: "text").first?.stringValue
        }
        #expect(texts.contains("3×3×3 conv, instance norm, ReLU (same padding)"))
        #expect(texts.contains("2×2×2 max pool") && texts.contains("1×2×2 max pool"))
        #expect(texts.contains("1×2×2 up-conv") && texts.contains("2×2×2 up-conv"))
        #expect(texts.contains("1×1×1 conv + softmax"))
        // Sides along the first axis go wrong on their own.
        #expect(throws: DrawingError.invalidInputSize([15, 64, 64], axis: 0, below: 14, above: 16)) {
            try FeatureMapPlan(network: network, inputSize: [15, 64, 64])
        }
        #expect(try FeatureMapPlan(network: network, inputSide: 32).outputSize == [32, 32, 32])
    }
}
