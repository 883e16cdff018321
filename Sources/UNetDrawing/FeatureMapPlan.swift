import UNetCheckpoint

/// Every feature map of a U-Net for one input size, with the operations between them: what the
/// architecture drawing shows. It reads only the `UNetNetwork`'s nodes (the one walk of the
/// network) and follows the sizes with `UNetNetwork.sides(forInputSide:axis:)`.
///
/// A box ("map") per drawn feature map: the input, each convolution's and transposed
/// convolution's output (with the norms, activations and dropout that follow it), each pooled
/// map, each up-sampled map (a decoder stage's up path: the interpolation or up-conv, any
/// convolution after it and the padding to the skip), the merged map of each skip (drawn as its
/// two parts side by side: the copied skip beside the up-sampled map), each attention-gated skip,
/// each residual sum and each head's output. The inner operations of attention gates, residual
/// shortcuts, squeeze-excitation and spatial attention are parts of the arrow or box they serve.
public struct FeatureMapPlan: Sendable {
    /// One feature map (a box of the drawing).
    public struct Map: Hashable, Sendable {
        public enum Role: String, Sendable, CaseIterable {
            /// The network's input image.
            case input
            /// The output of a convolution and its normalisation and activation (a strided
            /// convolution's output starts a lower level).
            case conv
            /// The output of a pooling layer: the first map of a lower level.
            case pooled
            /// The up-sampled map (after any convolution of the up path and any padding to the skip).
            case upsampled
            /// The encoder map copied across (after any cropping): the skip part of a merged map.
            case skip
            /// The skip after its attention gate: the skip part of a merged map.
            case gated
            /// The sum of a residual unit (with what follows it).
            case sum
            /// A head's output.
            case output
        }
        public let role: Role
        /// The resolution level (0 = the input's), from the node's `level`.
        public let level: Int
        /// Whether the map belongs to the decoder side of the U (decoder stages and heads).
        public let isDecoder: Bool
        public let channels: Int
        /// The spatial size, one side per axis (H×W, or D×H×W).
        public let size: [Int]
        /// The network node whose output the box shows (the last node it takes in; for a copied
        /// skip, the node copied).
        public let node: Int
        /// The side along the first axis (the side of a square or cubic map).
        public var side: Int { size.first ?? 0 }
    }

    /// One operation between two maps (an arrow of the drawing).
    public struct Step: Hashable, Sendable {
        public enum Kind: String, Sendable, CaseIterable {
            /// A convolution (not down-sampling) with its normalisation and activation.
            case conv
            /// Down-sampling: pooling or a strided convolution (``Step/via`` says which).
            case pool
            /// Up-sampling: a transposed convolution or an interpolation (with the rest of the up path).
            case up
            /// The skip connection: copy (and crop, or pad the up-sampled map) and concatenate.
            case copy
            /// An attention gate on the skip, gated by the up-sampled map (``Step/gate``).
            case attention
            /// A residual unit: the shortcut (`via` `shortcut`) and the sum (`via` `sum`).
            case residual
            /// A head's last convolution and the final activation.
            case head
        }
        public let kind: Kind
        /// Indices into ``FeatureMapPlan/maps``.
        public let from: Int
        public let to: Int
        /// The network nodes the arrow stands for, in order (a convolution with its norm and
        /// activation, an attention gate's inner nodes, …).
        public let nodes: [Int]
        /// Which operation: `max_pool`, `avg_pool`, `strided_conv` (pool), `conv_transpose`,
        /// `interpolate` (up), `crop`, `pad`, `exact` (copy), `shortcut`, `sum` (residual).
        public let via: String?
        /// An attention step: the map giving the gating signal.
        public let gate: Int?
    }

    /// A merged (concatenated) map, drawn as its skip part beside its up-sampled part.
    public struct Merge: Hashable, Sendable {
        /// The skip part (a map of role `skip` or `gated`).
        public let skip: Int
        /// The up-sampled part, which the following arrows leave from.
        public let upsampled: Int
        /// The concatenation node.
        public let node: Int
        public let channels: Int
    }

    /// Parameters of one encoder stage, decoder stage or head.
    public struct StageParameters: Hashable, Sendable {
        public let section: UNetNetwork.Place.Section
        /// The index within its section.
        public let index: Int
        public let name: String
        /// The level of the stage's output.
        public let level: Int
        public let parameters: Int
    }

    /// Parameters of one level: its encoder stages, and its decoder stages (nil when none ends there).
    public struct LevelParameters: Hashable, Sendable {
        public let level: Int
        public let encoder: Int
        public let decoder: Int?
        public var total: Int { encoder + (decoder ?? 0) }
    }

    /// A dropout layer (identity at inference) and the stage it is in.
    public struct Dropout: Hashable, Sendable {
        public let stage: String
        public let rate: Double
    }

    public let network: UNetNetwork
    /// One side per spatial axis.
    public let inputSize: [Int]
    public let maps: [Map]
    public let steps: [Step]
    public let merges: [Merge]
    public let stageParameters: [StageParameters]
    public let dropouts: [Dropout]

    public var architecture: UNetArchitecture { network.architecture }
    /// The default output's size.
    public var outputSize: [Int] { network.outputSize(forInputSize: inputSize) ?? [] }
    /// All parameters.
    public var totalParameters: Int { stageParameters.reduce(0) { $0 + $1.parameters } }
    /// All heads' parameters.
    public var headParameters: Int {
        stageParameters.filter { $0.section == .head }.reduce(0) { $0 + $1.parameters }
    }

    /// The encoder and decoder parameters of each level where a stage ends, top level first.
    public var levelParameters: [LevelParameters] {
        let stages = stageParameters.filter { $0.section != .head }
        return Set(stages.map(\.level)).sorted().map { level in
            let encoder = stages.filter { $0.section == .encoder && $0.level == level }
            let decoder = stages.filter { $0.section == .decoder && $0.level == level }
            return LevelParameters(
                level: level, encoder: encoder.reduce(0) { $0 + $1.parameters },
                decoder: decoder.isEmpty ? nil : decoder.reduce(0) { $0 + $1.parameters })
        }
    }

    /// Follows a square (2-D) or cubic (3-D) input of side `inputSide` through the network.
    public init(network: UNetNetwork, inputSide: Int) throws(DrawingError) {
        try self.init(
            network: network, inputSize: [Int](repeating: inputSide, count: network.architecture.spatialDims))
    }

    /// Follows `inputSize` (one side per spatial axis) through the network; throws when a side
    /// is not valid along its axis (naming the nearest valid sides).
    public init(network: UNetNetwork, inputSize: [Int]) throws(DrawingError) {
        let dims = network.architecture.spatialDims
        guard inputSize.count == dims else { throw DrawingError.wrongAxisCount(inputSize, expected: dims) }
        var sides: [[Int]] = []
        for (axis, side) in inputSize.enumerated() {
            guard let axisSides = network.sides(forInputSide: side, axis: axis) else {
                let nearest = network.nearestValidInputSides(to: side, axis: axis)
                throw DrawingError.invalidInputSize(inputSize, axis: axis, below: nearest.below, above: nearest.above)
            }
            sides.append(axisSides)
        }
        self.network = network
        self.inputSize = inputSize
        var walk = PlanWalk(network)
        walk.run()
        maps = walk.maps.map { draft in
            Map(
                role: draft.role, level: draft.level, isDecoder: draft.isDecoder, channels: draft.channels,
                size: sides.map { $0[draft.node] }, node: draft.node)
        }
        steps = walk.steps.map {
            Step(kind: $0.kind, from: $0.from, to: $0.to, nodes: $0.nodes, via: $0.via, gate: $0.gate)
        }
        merges = walk.merges
        dropouts = walk.dropouts

        var byStage: [String: Int] = [:]
        for node in network.nodes {
            let count = node.tensors.reduce(0) { $0 + $1.elementCount }
            byStage["\(node.place.section.rawValue)/\(node.place.stage)", default: 0] += count
        }
        stageParameters = network.stages.map { stage in
            StageParameters(
                section: stage.section, index: stage.index, name: stage.name,
                level: network.nodes[stage.output].level,
                parameters: byStage["\(stage.section.rawValue)/\(stage.index)"] ?? 0)
        }
    }

    /// The size drawn when none is asked for: the training tile size (on every axis) when the
    /// metadata records a valid one; otherwise per axis the valid side nearest 572 (2-D) or 132
    /// (3-D) when the network shrinks its maps (unpadded convolutions; 572 itself for the paper's
    /// network), else nearest 256 (2-D) or 128 (3-D).
    public static func defaultInputSize(for network: UNetNetwork, metadata: CheckpointMetadata? = nil) -> [Int]? {
        let dims = network.architecture.spatialDims
        if let tile = metadata?.training?.tileSize,
            (0..<dims).allSatisfy({ network.sides(forInputSide: tile, axis: $0) != nil })
        {
            return [Int](repeating: tile, count: dims)
        }
        var size: [Int] = []
        for axis in 0..<dims {
            func nearest(_ target: Int) -> Int? {
                let found = network.nearestValidInputSides(to: target, axis: axis)
                return found.below ?? found.above
            }
            guard let unpadded = nearest(dims == 3 ? 132 : 572) else { return nil }
            let output = network.sides(forInputSide: unpadded, axis: axis).map { $0[network.output] } ?? unpadded
            if output < unpadded {
                size.append(unpadded)
            } else {
                guard let padded = nearest(dims == 3 ? 128 : 256) else { return nil }
                size.append(padded)
            }
        }
        return size
    }
}

/// The interpretation of the network's nodes as maps and steps.
///
/// This is the drawing's one switch over ``UNetNetwork/Operation`` (in ``visit(_:)``): each node
/// starts a map, joins the map of its input, or is an inner part of an arrow (an attention gate,
/// a residual shortcut, a squeeze-excitation or spatial-attention gate).
struct PlanWalk {
    struct DraftMap {
        var role: FeatureMapPlan.Map.Role
        var level: Int
        var isDecoder: Bool
        var channels: Int
        var node: Int
        /// The step that made the map (the nodes the map takes in join it).
        var creator: Int?
    }
    struct DraftStep {
        var kind: FeatureMapPlan.Step.Kind
        var from: Int
        var to: Int
        var nodes: [Int]
        var via: String?
        var gate: Int?
    }

    let network: UNetNetwork
    let consumers: [[Int]]
    /// The attention node whose output is the gated skip, per decoder stage.
    private var gatedSkip: Set<Int> = []
    /// The node of each map (nil: an inner node of an arrow).
    private var mapOf: [Int?]
    private(set) var maps: [DraftMap] = []
    private(set) var steps: [DraftStep] = []
    private(set) var merges: [FeatureMapPlan.Merge] = []
    private(set) var dropouts: [FeatureMapPlan.Dropout] = []
    /// Inner nodes waiting for the arrow they belong to (attention gates, shortcuts).
    private var pendingAttention: [Int] = []
    private var pendingShortcut: [Int] = []
    /// The up-sampled map of each decoder stage, once made.
    private var upsampledMap: [Int: Int] = [:]
    /// Nodes on the skip side of a merge (crops, gated skips), and the pads of up-sampled maps.
    private var skipSide: Set<Int> = []
    private var pads: Set<Int> = []

    init(_ network: UNetNetwork) {
        self.network = network
        consumers = network.consumers
        mapOf = [Int?](repeating: nil, count: network.nodes.count)
        for (index, node) in network.nodes.enumerated() where node.place.role == .attention {
            if consumers[index].contains(where: { network.nodes[$0].place.role != .attention }) {
                gatedSkip.insert(index)
            }
        }
    }

    mutating func run() {
        for index in network.nodes.indices { visit(index) }
        // A head's last map is its output, made by the head arrow.
        for output in network.headOutputs {
            guard let map = mapOf[output], let creator = maps[map].creator,
                let first = steps[creator].nodes.first, network.nodes[first].place.section == .head
            else { continue }
            maps[map].role = .output
            steps[creator].kind = .head
        }
    }

    private func isInner(_ node: Int) -> Bool { mapOf[node] == nil }

    private mutating func visit(_ index: Int) {
        let node = network.nodes[index]
        let role = node.place.role
        // Attention-gate and shortcut nodes are inner parts of their arrows, and so is anything
        // computed from an inner node (squeeze-excitation, spatial attention).
        let hidden =
            (role == .attention && !gatedSkip.contains(index)) || role == .shortcut
            || node.inputs.contains(where: isInner)
        func hide() {
            if role == .attention { pendingAttention.append(index) }
            if role == .shortcut { pendingShortcut.append(index) }
        }
        let input = node.inputs.first
        switch node.operation {
        case .input:
            mapOf[index] = newMap(.input, index, from: nil, .conv)
        case .conv(let conv):
            if hidden { return hide() }
            if absorbIntoUpPath(index) { return }
            let strided = conv.stride.contains { $0 > 1 }
            mapOf[index] = newMap(
                .conv, index, from: input, strided ? .pool : .conv, via: strided ? "strided_conv" : nil)
        case .convTranspose(let conv):
            if hidden { return hide() }
            if absorbIntoUpPath(index) { return }
            let up = conv.stride.contains { $0 > 1 }
            mapOf[index] = newMap(
                up ? .upsampled : .conv, index, from: input, up ? .up : .conv, via: up ? "conv_transpose" : nil)
            if up { noteUpsampled(index) }
        case .norm, .activation:
            if hidden { return hide() }
            absorb(index, into: mapOf[input!]!)
        case .dropout(let dropout):
            if hidden { return hide() }
            absorb(index, into: mapOf[input!]!)
            dropouts.append(.init(stage: stageName(node.place), rate: dropout.rate))
        case .maxPool(let pool):
            if hidden { return hide() }
            pooling(index, pool, via: "max_pool")
        case .avgPool(let pool):
            if hidden { return hide() }
            pooling(index, pool, via: "avg_pool")
        case .interpolate(let interpolation):
            if hidden { return hide() }
            guard interpolation.scale.contains(where: { $0 > 1 }) else {
                return absorb(index, into: mapOf[input!]!)
            }
            mapOf[index] = newMap(.upsampled, index, from: input, .up, via: "interpolate")
            noteUpsampled(index)
        case .add:
            if role == .shortcut || !hidden { residualSum(index) } else { hide() }
        case .multiply:
            if gatedSkip.contains(index) { return gate(index) }
            if hidden && (role == .attention || isInner(node.inputs[0])) { return hide() }
            // Squeeze-excitation or spatial attention: the gated map is the map it gates.
            absorb(index, into: mapOf[node.inputs[0]]!)
        case .concat:
            if hidden && node.inputs.allSatisfy(isInner) { return hide() }
            merge(index)
        case .crop:
            // The copied skip, cropped: the copy arrow says so; the skip part of the merge shows it.
            mapOf[index] = mapOf[input!]
            skipSide.insert(index)
        case .pad:
            pads.insert(index)
            absorb(index, into: mapOf[input!]!)
        case .channelStatistic, .globalAveragePool:
            hide()
        }
    }

    // MARK: Maps and steps

    private mutating func newMap(
        _ role: FeatureMapPlan.Map.Role, _ node: Int, from input: Int?, _ kind: FeatureMapPlan.Step.Kind,
        via: String? = nil, gate: Int? = nil
    ) -> Int {
        let place = network.nodes[node].place
        let index = maps.count
        var creator: Int?
        if let input, let source = mapOf[input] {
            creator = steps.count
            steps.append(DraftStep(kind: kind, from: source, to: index, nodes: [node], via: via, gate: gate))
        }
        maps.append(
            DraftMap(
                role: role, level: network.nodes[node].level,
                isDecoder: place.section == .decoder || place.section == .head,
                channels: network.nodes[node].channels, node: node, creator: creator))
        return index
    }

    /// Node `index` joins map `map`: the map now shows its output and the map's arrow its words.
    private mutating func absorb(_ index: Int, into map: Int) {
        mapOf[index] = map
        maps[map].node = index
        maps[map].channels = network.nodes[index].channels
        if let creator = maps[map].creator { steps[creator].nodes.append(index) }
    }

    /// A pooled map, or (stride 1) the input's map.
    private mutating func pooling(_ index: Int, _ pool: Layer.Pool, via: String) {
        let input = network.nodes[index].inputs[0]
        guard pool.stride.contains(where: { $0 > 1 }) else { return absorb(index, into: mapOf[input]!) }
        mapOf[index] = newMap(.pooled, index, from: input, .pool, via: via)
    }

    private mutating func noteUpsampled(_ index: Int) {
        let place = network.nodes[index].place
        if place.section == .decoder && place.role == .upsample { upsampledMap[place.stage] = mapOf[index] }
    }

    /// A layer of a decoder stage's up path after its up-sampling joins the up-sampled map.
    private mutating func absorbIntoUpPath(_ index: Int) -> Bool {
        let node = network.nodes[index]
        guard node.place.section == .decoder, node.place.role == .upsample,
            let map = upsampledMap[node.place.stage], mapOf[node.inputs[0]] == map
        else { return false }
        absorb(index, into: map)
        return true
    }

    /// The maps an inner node is computed from (through other inner nodes).
    private func sourceMaps(of index: Int) -> [Int] {
        var result: [Int] = []
        var stack = [index]
        var seen: Set<Int> = []
        while let next = stack.popLast() {
            guard seen.insert(next).inserted else { continue }
            if let map = mapOf[next] {
                if !result.contains(map) { result.append(map) }
            } else {
                stack.append(contentsOf: network.nodes[next].inputs.reversed())
            }
        }
        return result
    }

    /// A residual sum: a new map, reached from the body's last map and by the shortcut.
    private mutating func residualSum(_ index: Int) {
        let node = network.nodes[index]
        let body = sourceMaps(of: node.inputs[0]).first ?? 0
        let shortcut = sourceMaps(of: node.inputs.count > 1 ? node.inputs[1] : node.inputs[0]).first ?? body
        let map = maps.count
        maps.append(
            DraftMap(
                role: .sum, level: node.level, isDecoder: node.place.section == .decoder || node.place.section == .head,
                channels: node.channels,
                node: index, creator: steps.count))
        steps.append(DraftStep(kind: .residual, from: body, to: map, nodes: [index], via: "sum"))
        steps.append(DraftStep(kind: .residual, from: shortcut, to: map, nodes: pendingShortcut, via: "shortcut"))
        pendingShortcut = []
        mapOf[index] = map
    }

    /// The gated skip of an attention gate: a new map, reached from the skip by the gate.
    private mutating func gate(_ index: Int) {
        let node = network.nodes[index]
        let skip = mapOf[node.inputs[0]] ?? 0
        let gating = sourceMaps(of: node.inputs[1]).first { $0 != skip }
        let map = maps.count
        maps.append(
            DraftMap(
                role: .gated, level: node.level, isDecoder: true, channels: node.channels, node: index,
                creator: steps.count))
        steps.append(
            DraftStep(kind: .attention, from: skip, to: map, nodes: pendingAttention + [index], via: nil, gate: gating))
        pendingAttention = []
        mapOf[index] = map
        skipSide.insert(index)
    }

    /// A merge: the copied skip (or the gated one) beside the up-sampled map.
    private mutating func merge(_ index: Int) {
        let node = network.nodes[index]
        let stageInput = network.stages.first {
            $0.section == node.place.section && $0.index == node.place.stage
        }?.input
        let skipInput =
            node.inputs.first { skipSide.contains($0) }
            ?? node.inputs.first { network.nodes[$0].place.section == .encoder && $0 != stageInput }
            ?? node.inputs[0]
        let upInput = node.inputs.first { $0 != skipInput } ?? node.inputs[0]
        guard let upsampled = mapOf[upInput] else { return }
        let skip: Int
        if let gated = mapOf[skipInput], maps[gated].role == .gated {
            skip = gated
            if let creator = maps[gated].creator { steps[creator].nodes.append(index) }
        } else {
            skip = maps.count
            // A skip-side node here is the crop (gated skips are handled above).
            let crop = skipSide.contains(skipInput)
            let pad = pads.contains(upInput)
            let via = crop ? "crop" : pad ? "pad" : "exact"
            var words = [Int]()
            if crop { words.append(skipInput) }
            if pad { words.append(upInput) }
            steps.append(
                DraftStep(kind: .copy, from: mapOf[skipInput] ?? 0, to: skip, nodes: words + [index], via: via))
            maps.append(
                DraftMap(
                    role: .skip, level: node.level, isDecoder: true, channels: network.nodes[skipInput].channels,
                    node: skipInput, creator: steps.count - 1))
        }
        merges.append(.init(skip: skip, upsampled: upsampled, node: index, channels: node.channels))
        mapOf[index] = upsampled
    }

    private func stageName(_ place: UNetNetwork.Place) -> String {
        network.stages.first { $0.section == place.section && $0.index == place.stage }?.name ?? "input"
    }
}

/// Why a drawing cannot be made.
public enum DrawingError: UNetCkptError, Equatable {
    /// The side along `axis` gives no valid output; the nearest valid sides below and above it.
    case invalidInputSize([Int], axis: Int, below: Int?, above: Int?)
    /// The input size does not have one side per spatial axis.
    case wrongAxisCount([Int], expected: Int)

    /// A size the caller chose (`.invalidArgument`).
    public var code: ErrorCode { .invalidArgument }
    public var file: String? { nil }

    public var message: String {
        switch self {
        case .invalidInputSize(let size, let axis, let below, let above):
            let nearest = [below, above].compactMap { $0 }.map(String.init)
            let square = Set(size).count == 1
            let hint =
                nearest.isEmpty
                ? "the network has no valid input size" + (square ? "" : " along axis \(axis)")
                : "the nearest valid sizes are " + nearest.joined(separator: " and ")
                    + (square ? "" : " along axis \(axis)")
            let shown = square ? "\(size[0])" : size.map(String.init).joined(separator: "×")
            return "input size \(shown) does not give whole feature-map sizes through this network; \(hint)"
        case .wrongAxisCount(let size, let expected):
            return "input size \(size.map(String.init).joined(separator: "×")) has \(size.count) sides, "
                + "expected \(expected) (one per spatial axis)"
        }
    }
}
