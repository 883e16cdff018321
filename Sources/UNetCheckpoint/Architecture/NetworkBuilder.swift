/// The one walk over a ``UNetArchitecture``: stages, layers and composite layers become
/// ``UNetNetwork/Node``s with their channels, tensors, places and levels. Problems are collected
/// (with their JSON paths) rather than thrown one by one.
struct NetworkBuilder {
    let architecture: UNetArchitecture
    private var nodes: [UNetNetwork.Node] = []
    private var problems: [String] = []
    private var keys: Set<String> = []

    init(architecture: UNetArchitecture) { self.architecture = architecture }

    private var dims: Int { architecture.spatialDims }

    mutating func build() throws(ArchitectureError) -> UNetNetwork {
        let a = architecture
        typealias Limits = UNetArchitecture.Limits
        require(a.spatialDims == 2 || a.spatialDims == 3, "spatial_dims = \(a.spatialDims): expected 2 or 3")
        requireChannels(a.inChannels, "in_channels")
        require(
            Limits.stages.contains(a.encoder.count), "encoder has \(a.encoder.count) stages, expected \(Limits.stages)")
        require(
            Limits.stages.contains(a.decoder.count), "decoder has \(a.decoder.count) stages, expected \(Limits.stages)")
        require(Limits.heads.contains(a.heads.count), "heads has \(a.heads.count) entries, expected \(Limits.heads)")
        require(a.heads.contains { $0.role == .output }, "heads: no head has the role output")
        guard problems.isEmpty else { throw ArchitectureError(problems: problems) }

        nodes.append(
            UNetNetwork.Node(
                operation: .input, inputs: [], channels: a.inChannels, key: nil, tensors: [],
                place: .init(section: .input, stage: 0, role: .layer), level: 0, path: "in_channels"))
        var x: Int? = 0
        var encoderOutputs: [Int] = []
        for (index, stage) in a.encoder.enumerated() {
            let place = UNetNetwork.Place(section: .encoder, stage: index, role: .layer)
            x = x.flatMap {
                layers(stage.layers, from: $0, prefix: stage.name, place: place, path: "encoder[\(index)].layers")
            }
            guard let output = x else { break }
            encoderOutputs.append(output)
        }
        var decoderOutputs: [Int] = []
        if encoderOutputs.count == a.encoder.count {
            for (index, stage) in a.decoder.enumerated() {
                x = x.flatMap { decoderStage(stage, index: index, from: $0, encoderOutputs: encoderOutputs) }
                guard let output = x else { break }
                decoderOutputs.append(output)
            }
        }
        var headOutputs: [Int] = []
        if decoderOutputs.count == a.decoder.count {
            for (index, head) in a.heads.enumerated() {
                let path = "heads[\(index)]"
                guard decoderOutputs.indices.contains(head.from) else {
                    problems.append("\(path).from = \(head.from) names no decoder stage")
                    continue
                }
                let place = UNetNetwork.Place(section: .head, stage: index, role: .layer)
                if let output = layers(
                    head.layers, from: decoderOutputs[head.from], prefix: head.name, place: place,
                    path: "\(path).layers")
                {
                    headOutputs.append(output)
                }
            }
        }
        checkParameterCount()
        guard problems.isEmpty else { throw ArchitectureError(problems: problems) }
        let network = UNetNetwork(
            architecture: a, nodes: nodes, encoderOutputs: encoderOutputs, decoderOutputs: decoderOutputs,
            headOutputs: headOutputs)
        for axis in 0..<dims where network.minimumInputSide(axis: axis) == nil {
            problems.append(
                "no input side up to \(UNetNetwork.sideSearchLimit) gives a valid output along axis \(axis)")
        }
        guard problems.isEmpty else { throw ArchitectureError(problems: problems) }
        return network
    }

    // MARK: Stages

    private mutating func decoderStage(
        _ stage: UNetArchitecture.DecoderStage, index: Int, from below: Int, encoderOutputs: [Int]
    ) -> Int? {
        let path = "decoder[\(index)]"
        func place(_ role: UNetNetwork.Place.Role) -> UNetNetwork.Place {
            .init(section: .decoder, stage: index, role: role)
        }
        guard var x = layers(stage.up, from: below, prefix: stage.name, place: place(.upsample), path: "\(path).up")
        else { return nil }
        if let skipIndex = stage.skip {
            guard encoderOutputs.indices.contains(skipIndex) else {
                problems.append("\(path).skip = \(skipIndex) names no encoder stage")
                return nil
            }
            guard let merge = stage.merge else {
                problems.append("\(path).merge is required with a skip")
                return nil
            }
            var skip = encoderOutputs[skipIndex]
            switch merge.match {
            case .exact: break
            case .crop: skip = add(.crop, [skip, x], channels: nodes[skip].channels, place(.merge), "\(path).merge")
            case .pad:
                x = add(.pad(.zeroCentred), [x, skip], channels: nodes[x].channels, place(.merge), "\(path).merge")
            case .padReplicateEnd:
                x = add(.pad(.replicateEnd), [x, skip], channels: nodes[x].channels, place(.merge), "\(path).merge")
            }
            if let gate = stage.attention {
                guard
                    let attended = attention(
                        gate, skip: skip, gating: x, stage: stage, place: place(.attention),
                        path: "\(path).attention")
                else { return nil }
                skip = attended
            }
            let parts = merge.order == .skipFirst ? [skip, x] : [x, skip]
            x = add(
                .concat, parts, channels: nodes[skip].channels + nodes[x].channels, place(.merge), "\(path).merge")
        } else {
            if stage.merge != nil { problems.append("\(path).merge is given without a skip") }
            if stage.attention != nil { problems.append("\(path).attention is given without a skip") }
        }
        return layers(stage.layers, from: x, prefix: stage.name, place: place(.layer), path: "\(path).layers")
    }

    private mutating func attention(
        _ gate: UNetArchitecture.AttentionGate, skip: Int, gating: Int, stage: UNetArchitecture.DecoderStage,
        place: UNetNetwork.Place, path: String
    ) -> Int? {
        let prefix = "\(stage.name).\(gate.name)"
        guard let g = layers(gate.gate, from: gating, prefix: prefix, place: place, path: "\(path).gate"),
            let s = layers(gate.skip, from: skip, prefix: prefix, place: place, path: "\(path).skip")
        else { return nil }
        guard nodes[g].channels == nodes[s].channels else {
            problems.append(
                "\(path): the gate path gives \(nodes[g].channels) channels, the skip path \(nodes[s].channels)")
            return nil
        }
        let combined = add(gate.combine == .add ? .add : .multiply, [g, s], channels: nodes[g].channels, place, path)
        guard let psi = layers(gate.layers, from: combined, prefix: prefix, place: place, path: "\(path).layers")
        else { return nil }
        guard nodes[psi].channels == 1 else {
            problems.append("\(path).layers end with \(nodes[psi].channels) channels, expected 1")
            return nil
        }
        let coefficient = add(.activation(.init(.sigmoid)), [psi], channels: 1, place, path)
        return add(.multiply, [skip, coefficient], channels: nodes[skip].channels, place, path)
    }

    // MARK: Layers

    /// Appends the nodes of `list` applied to node `x`; nil (with problems recorded) when a layer
    /// does not fit.
    private mutating func layers(
        _ list: [Layer], from x: Int, prefix: String, place: UNetNetwork.Place, path: String
    ) -> Int? {
        require(list.count <= UNetArchitecture.Limits.layersPerList, "\(path) has more than 64 layers")
        var x = x
        for (index, layer) in list.enumerated() {
            guard let next = self.layer(layer, from: x, prefix: prefix, place: place, path: "\(path)[\(index)]") else {
                return nil
            }
            x = next
        }
        return x
    }

    private mutating func layer(
        _ layer: Layer, from x: Int, prefix: String, place: UNetNetwork.Place, path: String
    ) -> Int? {
        let input = nodes[x].channels
        func key(_ name: String) -> String? {
            let key = "\(prefix).\(name)"
            guard !name.isEmpty, !name.contains("/"), !keys.contains(key) else {
                problems.append("\(path).name \"\(name)\" is empty, has a slash or repeats the key \(key)")
                return nil
            }
            keys.insert(key)
            return key
        }
        switch layer {
        case .conv(let conv):
            guard checkConv(conv, input: input, path: path), let key = key(conv.name) else { return nil }
            let shape = [conv.out, input / conv.groups] + conv.kernel
            var tensors = [TensorSpec(key: "\(key).weight", shape: shape, layout: .weight(dims: dims))]
            if conv.bias { tensors.append(TensorSpec(key: "\(key).bias", shape: [conv.out], layout: .channels)) }
            return add(.conv(conv), [x], channels: conv.out, place, path, key: key, tensors: tensors)
        case .convTranspose(let conv):
            guard checkConvTranspose(conv, input: input, path: path), let key = key(conv.name) else { return nil }
            let shape = [input, conv.out / conv.groups] + conv.kernel
            var tensors = [TensorSpec(key: "\(key).weight", shape: shape, layout: .transposedWeight(dims: dims))]
            if conv.bias { tensors.append(TensorSpec(key: "\(key).bias", shape: [conv.out], layout: .channels)) }
            return add(.convTranspose(conv), [x], channels: conv.out, place, path, key: key, tensors: tensors)
        case .norm(let norm):
            guard checkNorm(norm, channels: input, path: path) else { return nil }
            let hasTensors = norm.affine || norm.kind == .batch
            guard hasTensors else { return add(.norm(norm), [x], channels: input, place, path) }
            guard let name = norm.name else {
                problems.append("\(path).name is required for a norm with tensors")
                return nil
            }
            guard let key = key(name) else { return nil }
            var tensors: [TensorSpec] = []
            let suffixes =
                (norm.affine ? ["weight", "bias"] : []) + (norm.kind == .batch ? ["running_mean", "running_var"] : [])
            for suffix in suffixes {
                tensors.append(TensorSpec(key: "\(key).\(suffix)", shape: [input], layout: .channels))
            }
            return add(.norm(norm), [x], channels: input, place, path, key: key, tensors: tensors)
        case .activation(let activation):
            guard checkActivation(activation, channels: input, path: path) else { return nil }
            guard activation.kind == .prelu else {
                return add(.activation(activation), [x], channels: input, place, path)
            }
            guard let name = activation.name, let key = key(name) else {
                if activation.name == nil { problems.append("\(path).name is required for prelu") }
                return nil
            }
            let tensors = [TensorSpec(key: "\(key).weight", shape: [activation.parameters ?? 1], layout: .channels)]
            return add(.activation(activation), [x], channels: input, place, path, key: key, tensors: tensors)
        case .dropout(let dropout):
            require(dropout.rate >= 0 && dropout.rate < 1, "\(path).rate = \(dropout.rate) is outside [0, 1)")
            return add(.dropout(dropout), [x], channels: input, place, path)
        case .maxPool(let pool):
            guard checkPool(pool, path: path) else { return nil }
            return add(.maxPool(pool), [x], channels: input, place, path)
        case .avgPool(let pool):
            guard checkPool(pool, path: path) else { return nil }
            return add(.avgPool(pool), [x], channels: input, place, path)
        case .interpolate(let interpolation):
            guard checkAxes(interpolation.scale, "\(path).scale", UNetArchitecture.Limits.scale) else { return nil }
            if interpolation.mode == .linear && interpolation.alignCorners == nil {
                problems.append("\(path).align_corners is required for linear interpolation")
                return nil
            }
            return add(.interpolate(interpolation), [x], channels: input, place, path)
        case .residual(let unit):
            let inner = unit.name.map { "\(prefix).\($0)" } ?? prefix
            let shortcutPlace = UNetNetwork.Place(section: place.section, stage: place.stage, role: .shortcut)
            guard let body = layers(unit.body, from: x, prefix: inner, place: place, path: "\(path).body"),
                let shortcut = layers(
                    unit.shortcut, from: x, prefix: inner, place: shortcutPlace, path: "\(path).shortcut")
            else { return nil }
            guard nodes[body].channels == nodes[shortcut].channels else {
                problems.append(
                    "\(path): the body gives \(nodes[body].channels) channels, the shortcut \(nodes[shortcut].channels)"
                )
                return nil
            }
            let sum = add(.add, [body, shortcut], channels: nodes[body].channels, shortcutPlace, path)
            return layers(unit.after, from: sum, prefix: inner, place: place, path: "\(path).after")
        case .squeezeExcitation(let se):
            requireChannels(se.channels, "\(path).channels")
            guard problems.isEmpty, let key = key(se.name) else { return nil }
            let ones = [Int](repeating: 1, count: dims)
            func pointwise(_ name: String, _ out: Int) -> Layer {
                .conv(
                    Layer.Conv(
                        name: name, out: out, kernel: ones, padding: .explicit(ones.map { _ in 0 }), bias: se.bias))
            }
            let pooled = add(.globalAveragePool, [x], channels: input, place, path)
            guard
                let gate = layers(
                    [
                        pointwise("reduce", se.channels), .activation(se.activation), pointwise("expand", input),
                        .activation(.init(.sigmoid)),
                    ],
                    from: pooled, prefix: key, place: place, path: "\(path).gate")
            else { return nil }
            return add(.multiply, [x, gate], channels: input, place, path)
        case .spatialAttention(let attention):
            guard !attention.pooling.isEmpty, attention.pooling.count <= 2, let key = key(attention.name) else {
                if attention.pooling.isEmpty || attention.pooling.count > 2 {
                    problems.append("\(path).pooling must list one or two of mean and max")
                }
                return nil
            }
            let statistics = attention.pooling.map { add(.channelStatistic($0), [x], channels: 1, place, path) }
            let stacked =
                statistics.count == 1
                ? statistics[0] : add(.concat, statistics, channels: statistics.count, place, path)
            let conv = Layer.Conv(
                name: "conv", out: 1, kernel: attention.kernel, padding: .explicit(attention.kernel.map { $0 / 2 }),
                bias: attention.bias)
            guard attention.kernel.allSatisfy({ $0 % 2 == 1 }) else {
                problems.append("\(path).kernel must be odd (the map keeps its size)")
                return nil
            }
            guard
                let gate = layers(
                    [.conv(conv), .activation(.init(.sigmoid))], from: stacked, prefix: key, place: place,
                    path: "\(path).gate")
            else { return nil }
            return add(.multiply, [x, gate], channels: input, place, path)
        }
    }

    // MARK: Checks

    private mutating func require(_ condition: Bool, _ message: @autoclosure () -> String) {
        if !condition { problems.append(message()) }
    }

    private mutating func requireChannels(_ value: Int, _ field: String) {
        let range = UNetArchitecture.Limits.channels
        require(range.contains(value), "\(field) = \(value) is outside \(range)")
    }

    /// One entry per spatial axis, each within `range`.
    private mutating func checkAxes(_ values: [Int], _ field: String, _ range: ClosedRange<Int>) -> Bool {
        guard values.count == dims else {
            problems.append("\(field) has \(values.count) entries, expected \(dims) (one per spatial axis)")
            return false
        }
        guard values.allSatisfy(range.contains) else {
            problems.append("\(field) = \(values) is outside \(range)")
            return false
        }
        return true
    }

    private mutating func checkGroups(_ groups: Int, _ channels: [Int], _ path: String) -> Bool {
        guard groups >= 1, channels.allSatisfy({ $0 % groups == 0 }) else {
            problems.append("\(path).groups = \(groups) does not divide the channels \(channels)")
            return false
        }
        return true
    }

    /// A sliding window's kernel and stride, one per axis within their limits.
    private mutating func checkWindow(kernel: [Int], stride: [Int], path: String) -> Bool {
        let kernelOK = checkAxes(kernel, "\(path).kernel", UNetArchitecture.Limits.kernel)
        return checkAxes(stride, "\(path).stride", UNetArchitecture.Limits.stride) && kernelOK
    }

    private mutating func checkConv(_ conv: Layer.Conv, input: Int, path: String) -> Bool {
        typealias Limits = UNetArchitecture.Limits
        requireChannels(conv.out, "\(path).out")
        var ok = checkWindow(kernel: conv.kernel, stride: conv.stride, path: path)
        ok = checkAxes(conv.dilation, "\(path).dilation", Limits.stride) && ok
        if case .explicit(let padding) = conv.padding {
            ok = checkAxes(padding, "\(path).padding", Limits.padding) && ok
        }
        return ok && Limits.channels.contains(conv.out) && checkGroups(conv.groups, [input, conv.out], path)
    }

    private mutating func checkConvTranspose(_ conv: Layer.ConvTranspose, input: Int, path: String) -> Bool {
        typealias Limits = UNetArchitecture.Limits
        requireChannels(conv.out, "\(path).out")
        var ok = checkWindow(kernel: conv.kernel, stride: conv.stride, path: path)
        ok = checkAxes(conv.outputPadding, "\(path).output_padding", Limits.padding) && ok
        switch conv.padding {
        case .explicit(let padding): ok = checkAxes(padding, "\(path).padding", Limits.padding) && ok
        case .same:
            if ok && zip(conv.kernel, conv.stride).contains(where: { $0 < $1 }) {
                problems.append("\(path): padding same needs kernel ≥ stride on every axis")
                ok = false
            }
        }
        if ok && zip(conv.outputPadding, conv.stride).contains(where: { $0 >= $1 }) {
            problems.append("\(path).output_padding must be smaller than the stride")
            ok = false
        }
        return ok && Limits.channels.contains(conv.out) && checkGroups(conv.groups, [input, conv.out], path)
    }

    private mutating func checkNorm(_ norm: Layer.Norm, channels: Int, path: String) -> Bool {
        guard norm.eps.isFinite, norm.eps > 0 else {
            problems.append("\(path).eps = \(norm.eps) must be a positive number")
            return false
        }
        if norm.kind == .group {
            guard let groups = norm.groups else {
                problems.append("\(path).groups is required for a group norm")
                return false
            }
            return checkGroups(groups, [channels], path)
        }
        // PyTorch's BatchNorm(affine=False) keeps running statistics only: allowed.
        return true
    }

    private mutating func checkActivation(_ activation: Layer.Activation, channels: Int, path: String) -> Bool {
        switch activation.kind {
        case .leakyReLU:
            guard activation.negativeSlope?.isFinite ?? false else {
                problems.append("\(path).negative_slope is required for leaky_relu")
                return false
            }
        case .elu:
            guard activation.alpha?.isFinite ?? false else {
                problems.append("\(path).alpha is required for elu")
                return false
            }
        case .gelu:
            guard [nil, "none", "tanh"].contains(activation.approximate) else {
                problems.append("\(path).approximate must be none or tanh")
                return false
            }
        case .prelu:
            let count = activation.parameters ?? 1
            guard count == 1 || count == channels else {
                problems.append("\(path).parameters = \(count): a prelu has 1 weight or one per channel (\(channels))")
                return false
            }
        case .relu, .relu6, .silu, .sigmoid, .tanh, .softmax: break
        }
        return true
    }

    private mutating func checkPool(_ pool: Layer.Pool, path: String) -> Bool {
        typealias Limits = UNetArchitecture.Limits
        var ok = checkWindow(kernel: pool.kernel, stride: pool.stride, path: path)
        ok = checkAxes(pool.padding, "\(path).padding", Limits.padding) && ok
        if ok && zip(pool.padding, pool.kernel).contains(where: { 2 * $0 > $1 }) {
            problems.append("\(path).padding must be at most half the kernel (PyTorch's rule)")
            ok = false
        }
        return ok
    }

    /// The parameter total, with overflow detection, against the bound.
    private mutating func checkParameterCount() {
        var total = 0
        var overflow = false
        for spec in nodes.flatMap(\.tensors) {
            var count = 1
            for dim in spec.shape {
                let (product, o) = count.multipliedReportingOverflow(by: dim)
                overflow = overflow || o
                count = product
            }
            let (sum, o) = total.addingReportingOverflow(count)
            overflow = overflow || o
            total = sum
        }
        if overflow || total > UNetArchitecture.Limits.parameters {
            problems.append("the network would have more than \(UNetArchitecture.Limits.parameters) parameters")
        }
    }

    // MARK: Nodes

    @discardableResult
    private mutating func add(
        _ operation: UNetNetwork.Operation, _ inputs: [Int], channels: Int, _ place: UNetNetwork.Place,
        _ path: String, key: String? = nil, tensors: [TensorSpec] = []
    ) -> Int {
        let level = (inputs.map { nodes[$0].level }.max() ?? 0) + operation.levelChange
        nodes.append(
            UNetNetwork.Node(
                operation: operation, inputs: inputs, channels: channels, key: key, tensors: tensors, place: place,
                level: level, path: path))
        return nodes.count - 1
    }
}

extension UNetNetwork.Operation {
    /// +1 for a down-sampling step (a stride above 1), −1 for an up-sampling one.
    var levelChange: Int {
        switch self {
        case .conv(let conv): conv.stride.contains { $0 > 1 } ? 1 : 0
        case .maxPool(let pool), .avgPool(let pool): pool.stride.contains { $0 > 1 } ? 1 : 0
        case .convTranspose(let conv): conv.stride.contains { $0 > 1 } ? -1 : 0
        case .interpolate(let interpolation): interpolation.scale.contains { $0 > 1 } ? -1 : 0
        default: 0
        }
    }
}

extension UNetArchitecture {
    /// Limits that keep every derived size and allocation bounded.
    public enum Limits {
        public static let stages = 1...16
        public static let heads = 1...16
        public static let layersPerList = 64
        public static let channels = 1...65536
        public static let kernel = 1...15
        public static let stride = 1...16
        public static let padding = 0...64
        public static let scale = 1...16
        /// At most 2^36 values (256 GiB of float32): more is a corrupt or hostile description.
        public static let parameters = 1 << 36
    }

    /// Checks the description: ranges, required fields, names, channel arithmetic, the parameter
    /// bound and that every axis has a valid input size. Throws every problem found at once.
    public func validate() throws(ArchitectureError) { _ = try network() }
}

/// A description that breaks a rule of docs/format.md §3, naming each offending field.
public struct ArchitectureError: UNetCkptError {
    /// One message per broken rule, each starting with the field's path.
    public let problems: [String]
    public var code: ErrorCode { .invalid }
    public var file: String? { nil }
    public var message: String { "invalid architecture" }
}
