import UNetCheckpoint

/// Reads a Keras functional U-Net from its config as a schema 2.0 network, walking the graph
/// from the input: encoder stages split where the resolution drops (a pooling layer or a strided
/// Conv2D), decoder stages start at an up-sampling (UpSampling2D, strided Conv2DTranspose) and
/// merge a skip through a Concatenate, optionally through an attention gate
/// (`skip · sigmoid(psi(act(theta(skip) + phi(up))))`); the head runs from the last Conv2D.
/// Every layer must lie on that path, and every weight must have the shape its config gives.
/// Layers are named as fixtures/generate_schema2_keras.py names them: `conv0`, `norm0` per stage,
/// `up`/`up_norm` (transposed) or `up_conv0`/`up_norm0` before a merge, `theta_x`, `phi_g`,
/// `psi_f` in a gate.
struct KerasGraphWalk {
    /// The network and the canonical key of each source key (`<layer>/<index>`).
    struct Reading {
        var architecture: UNetArchitecture
        var renames: [String: String]
    }

    /// How the layers of one part of a stage are named.
    private struct Naming {
        /// Prefix of counted names (`up_` gives `up_conv0`, `up_norm0`).
        var tag = ""
        /// A fixed name for the convs instead (`phi_g`, then `phi_g1`, …), their norms `<name>_norm`.
        var base: String?
        private var convs = 0
        private var transposed = 0
        private var norms = 0
        private var nextNorm: String?

        init(tag: String = "", base: String? = nil) {
            self.tag = tag
            self.base = base
        }

        mutating func conv() -> String {
            let name = base.map { convs == 0 ? $0 : "\($0)\(convs)" } ?? "\(tag)conv\(convs)"
            nextNorm = base == nil ? "\(tag)norm\(convs)" : "\(name)_norm"
            convs += 1
            return name
        }

        mutating func transposedConv() -> String {
            let name = transposed == 0 ? "up" : "up\(transposed)"
            transposed += 1
            nextNorm = "\(name)_norm"
            return name
        }

        mutating func norm() -> String {
            defer {
                nextNorm = nil
                norms += 1
            }
            return nextNorm ?? "\(tag)bn\(norms)"
        }
    }

    private let graph: KerasGraph
    private let layers: [String: KerasGraph.Layer]
    private let consumers: [String: [String]]
    /// Source key → shape as stored (Keras' HWIO kernels); nil when only the config is walked.
    private let shapes: [String: [Int]]?
    private let file: String
    private var channels: [String: Int] = [:]
    private var visited: Set<String> = []
    private var renames: [String: String] = [:]

    /// - Parameter shapes: the stored shape of each source key, checked against the config; nil
    ///   walks the config alone (an export, where the checkpoint's architecture vouches for the shapes).
    static func read(_ graph: KerasGraph, shapes: [String: [Int]]?, file: String) throws(FormatError) -> Reading {
        var walk = try KerasGraphWalk(graph, shapes: shapes, file: file)
        let architecture = try walk.network()
        return Reading(architecture: architecture, renames: walk.renames)
    }

    private init(_ graph: KerasGraph, shapes: [String: [Int]]?, file: String) throws(FormatError) {
        self.graph = graph
        self.shapes = shapes
        self.file = file
        var layers: [String: KerasGraph.Layer] = [:]
        var consumers: [String: [String]] = [:]
        for layer in graph.layers {
            guard layers.updateValue(layer, forKey: layer.name) == nil else {
                throw FormatError(.malformed, file: file, "the Keras config names two layers \(layer.name)")
            }
            for input in layer.inputs where consumers[input]?.last != layer.name {
                consumers[input, default: []].append(layer.name)
            }
        }
        self.layers = layers
        self.consumers = consumers
    }

    private func fail(_ message: String) -> FormatError {
        FormatError(.unsupported, file: file, "cannot read the Keras model as a U-Net: \(message)")
    }

    private func layer(_ name: String) throws(FormatError) -> KerasGraph.Layer {
        guard let layer = layers[name] else { throw fail("the config refers to a layer \(name) it does not hold") }
        return layer
    }

    private func next(_ name: String) -> [String] { consumers[name] ?? [] }

    private func isDownsampling(_ name: String) -> Bool {
        guard let layer = layers[name] else { return false }
        switch layer.className {
        case "MaxPooling2D", "AveragePooling2D": return true
        case "Conv2D":
            return (try? Arguments(layer, walk: self).pair("strides", default: [1, 1]))?.contains { $0 > 1 } ?? false
        default: return false
        }
    }

    private func isUpsampling(_ name: String) -> Bool {
        guard let layer = layers[name] else { return false }
        switch layer.className {
        case "UpSampling2D": return true
        case "Conv2DTranspose":
            return (try? Arguments(layer, walk: self).pair("strides", default: [1, 1]))?.contains { $0 > 1 } ?? false
        default: return false
        }
    }

    // MARK: The walk

    private mutating func network() throws(FormatError) -> UNetArchitecture {
        let inputs = graph.layers.filter { $0.className == "InputLayer" }
        guard inputs.count == 1, let input = inputs.first else {
            throw fail("the model has \(inputs.count) input layers, not one")
        }
        let shape: [JSONValue]
        if case .array(let s)? = input.config["batch_shape"] ?? input.config["batch_input_shape"] {
            shape = s
        } else {
            throw fail("the input layer \(input.name) has no batch_shape")
        }
        guard shape.count == 4, case .number(let c) = shape[3], let inChannels = Int(exactly: c), inChannels > 0 else {
            throw fail(
                "the input \(input.name) has shape \(shape.count - 1)-D (\(shape)), not height × width × channels")
        }
        visited.insert(input.name)
        channels[input.name] = inChannels

        // Encoder: stages split at each down-sampling; a stage's last layer is its skip feature.
        var x = input.name
        var stages: [[Layer]] = [[]]
        var ends: [String] = []
        var naming = Naming()
        while true {
            let following = next(x)
            let y: String
            if following.count > 1 {
                let down = following.filter(isDownsampling)
                guard down.count == 1 else {
                    throw fail(
                        "\(x) feeds \(following.joined(separator: ", ")); a branch is read only where a skip leaves "
                            + "beside a down-sampling")
                }
                y = down[0]
            } else if let only = following.first {
                y = only
            } else {
                throw fail("the network ends at \(x) without an up-sampling")
            }
            if isUpsampling(y) {
                guard following.count == 1 else { throw fail("\(x) feeds an up-sampling and other layers") }
                ends.append(x)
                break
            }
            if isDownsampling(y) {
                ends.append(x)
                stages.append([])
                naming = Naming()
            }
            stages[stages.count - 1] += try convert(y, from: x, prefix: "encoder.\(stages.count - 1)", &naming)
            x = y
        }

        // Decoder: an up-sampling, the merge, the layers up to the next up-sampling or the end.
        var decoder: [UNetArchitecture.DecoderStage] = []
        var head: [Layer] = []
        var finished = false
        while !finished {
            let level = stages.count - 2 - decoder.count
            guard level >= 0 else { throw fail("more up-samplings than down-samplings") }
            let prefix = "decoder.\(level)"
            var naming = Naming(tag: "up_")
            guard next(x).count == 1, let upsampling = next(x).first else {
                throw fail("\(x) feeds \(next(x).joined(separator: ", ")), not one up-sampling")
            }
            var up = try convert(upsampling, from: x, prefix: prefix, &naming)
            x = upsampling
            while next(x).count == 1, let y = next(x).first, try layer(y).className != "Concatenate" {
                up += try convert(y, from: x, prefix: prefix, &naming)
                x = y
            }
            let following = next(x)
            let concats = following.filter { layers[$0]?.className == "Concatenate" }
            guard concats.count == 1, let concat = concats.first else {
                throw fail("the up-sampled \(x) feeds \(following.joined(separator: ", ")), not one Concatenate")
            }
            let merge = try layer(concat)
            guard merge.inputs.count == 2, merge.inputs.contains(x), merge.calls == 1,
                let other = merge.inputs.first(where: { $0 != x })
            else {
                throw fail("Concatenate \(concat) takes \(merge.inputs.joined(separator: ", ")), not \(x) and a skip")
            }
            let axis = try Arguments(merge, walk: self).int("axis", default: -1)
            guard axis == -1 || axis == 3 else {
                throw fail("Concatenate \(concat) joins axis \(axis), not the channels")
            }
            let gating = following.filter { $0 != concat }
            var skip: Int
            var attention: UNetArchitecture.AttentionGate?
            if let index = ends.firstIndex(of: other) {
                guard gating.isEmpty else {
                    throw fail("the up-sampled \(x) also feeds \(gating.joined(separator: ", "))")
                }
                skip = index
            } else {
                (attention, skip) = try gate(other, gating: x, gatePath: gating, ends: ends, prefix: prefix)
            }
            visited.insert(concat)
            channels[concat] = try channel(of: x) + channel(of: ends[skip])
            let order: UNetArchitecture.Merge.Order = merge.inputs[0] == x ? .upsampledFirst : .skipFirst
            x = concat

            var body: [(name: String, input: String)] = []
            while let y = next(x).first, !isUpsampling(y) {
                guard next(x).count == 1 else { throw fail("\(x) feeds \(next(x).joined(separator: ", "))") }
                body.append((y, x))
                x = y
            }
            // The last stage keeps as many convs as the first encoder stage; the head is the rest.
            var split = body.count
            finished = next(x).isEmpty
            if finished {
                let kept = stages[0].count { if case .conv = $0 { true } else { false } }
                let convs = body.indices.filter { layers[body[$0].name]?.className == "Conv2D" }
                guard !convs.isEmpty else {
                    throw fail("no Conv2D after the last merge \(concat) to form the output head")
                }
                split = convs[min(kept, convs.count - 1)]
            }
            var bodyNaming = Naming()
            var stageLayers: [Layer] = []
            for (name, input) in body[..<split] {
                stageLayers += try convert(name, from: input, prefix: prefix, &bodyNaming)
            }
            if finished { head = try self.head(Array(body[split...])) }
            decoder.append(
                UNetArchitecture.DecoderStage(
                    name: prefix, up: up, skip: skip, merge: .init(order: order, match: .exact), attention: attention,
                    layers: stageLayers))
        }
        let missed = graph.layers.map(\.name).filter { !visited.contains($0) }
        guard missed.isEmpty else {
            throw fail(
                "layers off the U-Net's path: " + missed.prefix(6).joined(separator: ", ")
                    + (missed.count > 6 ? ", …" : ""))
        }
        guard graph.outputs.isEmpty || graph.outputs == [x] else {
            throw fail("the model's outputs are \(graph.outputs.joined(separator: ", ")), not the head's \(x)")
        }
        return UNetArchitecture(
            name: graph.name, spatialDims: 2, inChannels: inChannels,
            encoder: stages.enumerated().map { .init(name: "encoder.\($0.offset)", layers: $0.element) },
            decoder: decoder, heads: [.init(name: "head", from: decoder.count - 1, role: .output, layers: head)])
    }

    /// The head's layers: counted names, the last Conv2D named `out`.
    private mutating func head(_ steps: [(name: String, input: String)]) throws(FormatError) -> [Layer] {
        let last = steps.lastIndex { layers[$0.name]?.className == "Conv2D" } ?? 0
        var extra = Naming()
        var out = Naming(base: "out")
        var result: [Layer] = []
        for (index, step) in steps.enumerated() {
            if index < last {
                result += try convert(step.name, from: step.input, prefix: "head", &extra)
            } else {
                result += try convert(step.name, from: step.input, prefix: "head", &out)
            }
        }
        return result
    }

    /// An attention gate ending in `multiply` (the gated skip): its coefficient chain back to an
    /// Add or Multiply of the skip path (from an encoder end) and the gate path (from `gating`).
    private mutating func gate(
        _ multiply: String, gating: String, gatePath: [String], ends: [String], prefix: String
    ) throws(FormatError) -> (UNetArchitecture.AttentionGate, Int) {
        let masking = try layer(multiply)
        guard masking.className == "Multiply", masking.inputs.count == 2, masking.calls == 1,
            let feature = masking.inputs.first(where: ends.contains), let skip = ends.firstIndex(of: feature),
            let coefficient = masking.inputs.first(where: { $0 != feature })
        else {
            throw fail("the skip of the merge, \(multiply), is neither an encoder stage's output nor a gated one")
        }
        func chain(from end: String, to stops: Set<String>) throws(FormatError) -> (start: String, steps: [String]) {
            var steps: [String] = []
            var current = end
            while !stops.contains(current) {
                let step = try layer(current)
                guard step.inputs.count == 1, let input = step.inputs.first, steps.count < 64 else {
                    throw fail(
                        "the attention gate of \(multiply) reaches \(current), which is not a single-input layer")
                }
                steps.insert(current, at: 0)
                current = input
            }
            return (current, steps)
        }
        let combineNames = Set(graph.layers.filter { ["Add", "Multiply"].contains($0.className) }.map(\.name))
        let (combineName, psi) = try chain(from: coefficient, to: combineNames)
        let combine = try layer(combineName)
        guard combine.inputs.count == 2, combine.calls == 1 else {
            throw fail("the attention gate's \(combineName) does not combine two paths")
        }
        var paths: [String: [String]] = [:]
        for input in combine.inputs {
            let (start, steps) = try chain(from: input, to: [gating, ends[skip]])
            guard paths.updateValue(steps, forKey: start) == nil else {
                throw fail("both inputs of the attention gate's \(combineName) come from \(start)")
            }
        }
        guard let gateSteps = paths[gating], let skipSteps = paths[ends[skip]],
            gatePath == Array(gateSteps.prefix(1)), !gateSteps.isEmpty, !skipSteps.isEmpty
        else {
            throw fail("the attention gate's \(combineName) does not join a path from \(gating) and one from the skip")
        }
        func convert(_ steps: [String], from start: String, base: String) throws(FormatError) -> [Layer] {
            var naming = Naming(base: base)
            var input = start
            var result: [Layer] = []
            for step in steps {
                result += try self.convert(step, from: input, prefix: "\(prefix).attention", &naming)
                input = step
            }
            return result
        }
        let gateLayers = try convert(gateSteps, from: gating, base: "phi_g")
        let skipLayers = try convert(skipSteps, from: ends[skip], base: "theta_x")
        guard let g = gateSteps.last, let s = skipSteps.last, try channel(of: g) == channel(of: s) else {
            throw fail("the attention gate's paths into \(combineName) have different channels")
        }
        visited.insert(combineName)
        channels[combineName] = try channel(of: g)
        var layers = try convert(psi, from: combineName, base: "psi_f")
        guard case .activation(let last)? = layers.popLast(), last.kind == .sigmoid else {
            throw fail("the attention coefficient \(coefficient) does not end with a sigmoid")
        }
        visited.insert(multiply)
        channels[multiply] = try channel(of: ends[skip])
        let attention = UNetArchitecture.AttentionGate(
            name: "attention", gate: gateLayers, skip: skipLayers,
            combine: combine.className == "Add" ? .add : .multiply, layers: layers)
        return (attention, skip)
    }

    private func channel(of name: String) throws(FormatError) -> Int {
        guard let count = channels[name] else { throw fail("the channels of \(name) are not known where it is used") }
        return count
    }

    // MARK: One layer

    /// The schema layers of one single-input Keras layer, its weights renamed under `prefix`.
    private mutating func convert(
        _ name: String, from input: String, prefix: String, _ naming: inout Naming
    ) throws(FormatError) -> [Layer] {
        let layer = try layer(name)
        guard !visited.contains(name) else { throw fail("layer \(name) is reached twice") }
        guard layer.calls <= 1 else {
            throw fail("layer \(name) (\(layer.className)) is called \(layer.calls) times; shared layers are not read")
        }
        guard layer.inputs == [input] else {
            throw fail("layer \(name) takes \(layer.inputs.joined(separator: ", ")), where \(input) was expected")
        }
        if layer.isNested {
            throw fail("layer \(name) is a nested \(layer.className); nested models are not read")
        }
        visited.insert(name)
        let c = try channel(of: input)
        let arguments = Arguments(layer, walk: self)
        try arguments.channelsLast()
        var out = c
        var result: [Layer] = []
        var weights: [(field: String, shape: [Int])] = []
        var weightPrefix = ""
        switch layer.className {
        case "Conv2D":
            let filters = try arguments.int("filters")
            let groups = try arguments.int("groups", default: 1)
            let kernel = try arguments.pair("kernel_size")
            let bias = try arguments.bool("use_bias", default: true)
            guard groups > 0, c % groups == 0, filters % groups == 0 else {
                throw fail("Conv2D \(name) has \(groups) groups for \(c) → \(filters) channels")
            }
            let conv = Layer.Conv(
                name: naming.conv(), out: filters, kernel: kernel,
                stride: try arguments.pair("strides", default: [1, 1]),
                padding: try arguments.padding(), dilation: try arguments.pair("dilation_rate", default: [1, 1]),
                groups: groups, bias: bias)
            weightPrefix = conv.name
            weights = [("weight", kernel + [c / groups, filters])] + (bias ? [("bias", [filters])] : [])
            result = [.conv(conv)] + (try arguments.activation("activation"))
            out = filters
        case "Conv2DTranspose":
            let filters = try arguments.int("filters")
            let kernel = try arguments.pair("kernel_size")
            let bias = try arguments.bool("use_bias", default: true)
            guard try arguments.pair("dilation_rate", default: [1, 1]) == [1, 1] else {
                throw fail("Conv2DTranspose \(name) is dilated, which is not read")
            }
            if let padding = layer.config["output_padding"], padding != .null {
                throw fail("Conv2DTranspose \(name) sets output_padding, which is not read")
            }
            let conv = Layer.ConvTranspose(
                name: naming.transposedConv(), out: filters, kernel: kernel, stride: try arguments.pair("strides"),
                padding: try arguments.padding(), bias: bias)
            weightPrefix = conv.name
            weights = [("weight", kernel + [filters, c])] + (bias ? [("bias", [filters])] : [])
            result = [.convTranspose(conv)] + (try arguments.activation("activation"))
            out = filters
        case "BatchNormalization":
            let axis = layer.config["axis"]
            guard [.number(-1), .number(3), .array([.number(-1)]), .array([.number(3)]), nil].contains(axis) else {
                throw fail("BatchNormalization \(name) normalises axis \(String(describing: axis)), not the channels")
            }
            guard try arguments.bool("center", default: true), try arguments.bool("scale", default: true) else {
                throw fail("BatchNormalization \(name) has center or scale off, which is not read")
            }
            let norm = Layer.Norm(
                name: naming.norm(), kind: .batch, eps: try arguments.double("epsilon", default: 1e-3), affine: true,
                momentum: try arguments.double("momentum", default: 0.99))
            weightPrefix = norm.name ?? ""
            weights = ["weight", "bias", "running_mean", "running_var"].map { ($0, [c]) }
            result = [.norm(norm)]
        case "Activation":
            result = try arguments.activation("activation")
        case "ReLU":
            let maximum = layer.config["max_value"].flatMap { if case .number(let n) = $0 { n } else { nil } }
            let slope = try arguments.double("negative_slope", default: 0)
            guard try arguments.double("threshold", default: 0) == 0, maximum == nil || (maximum == 6 && slope == 0)
            else { throw fail("ReLU \(name) has a threshold or a maximum other than 6, which is not read") }
            result = [
                .activation(
                    maximum != nil ? .init(.relu6) : slope == 0 ? .init(.relu) : .init(.leakyReLU, negativeSlope: slope)
                )
            ]
        case "LeakyReLU":
            let slope = try arguments.double("negative_slope", default: try arguments.double("alpha", default: 0.3))
            result = [.activation(.init(.leakyReLU, negativeSlope: slope))]
        case "ELU":
            result = [.activation(.init(.elu, alpha: try arguments.double("alpha", default: 1)))]
        case "Softmax":
            guard
                [.number(-1), .number(3), .array([.number(-1)]), .array([.number(3)]), nil].contains(
                    layer.config["axis"])
            else { throw fail("Softmax \(name) is not over the channels") }
            result = [.activation(.init(.softmax))]
        case "Dropout", "SpatialDropout2D":
            result = [.dropout(.init(rate: try arguments.double("rate", default: 0)))]
        case "MaxPooling2D", "AveragePooling2D":
            let size = try arguments.pair("pool_size", default: [2, 2])
            let stride = layer.config["strides"] == .null ? size : try arguments.pair("strides", default: size)
            guard (layer.padding ?? "valid") == "valid" else {
                throw fail("\(layer.className) \(name) pads \"same\", which is not read (only valid pooling)")
            }
            let pool = Layer.Pool(kernel: size, stride: stride)
            result = [layer.className == "MaxPooling2D" ? .maxPool(pool) : .avgPool(pool)]
        case "UpSampling2D":
            let scale = try arguments.pair("size", default: [2, 2])
            switch layer.config["interpolation"] ?? .string("nearest") {
            case .string("nearest"): result = [.interpolate(.init(mode: .nearest, scale: scale))]
            case .string("bilinear"):
                // Keras resizes with half-pixel centres: PyTorch's align_corners=False.
                result = [.interpolate(.init(mode: .linear, scale: scale, alignCorners: false))]
            default: throw fail("UpSampling2D \(name) interpolates other than nearest or bilinear")
            }
        default:
            throw fail(
                "layer \(name) is a \(layer.className), which unet-ckpt does not read (docs/keras.md lists the layers)")
        }
        try expectWeights(layer, weights.map(\.shape))
        for (index, weight) in weights.enumerated() {
            renames["\(name)/\(index)"] = "\(prefix).\(weightPrefix).\(weight.field)"
        }
        channels[name] = out
        return result
    }

    /// Checks that the file holds the layer's variables with the shapes its config gives, and no others.
    private func expectWeights(_ layer: KerasGraph.Layer, _ expected: [[Int]]) throws(FormatError) {
        guard let shapes else { return }
        let what = "\(layer.className) \(layer.name)"
        for (index, shape) in expected.enumerated() {
            guard let stored = shapes["\(layer.name)/\(index)"] else {
                throw fail(
                    index == 0
                        ? "\(what) has no weights in the file"
                        : "\(what) has \(index) of its \(expected.count) variables in the file")
            }
            guard stored == shape else {
                throw fail("\(what): variable \(index) has shape \(stored), where its config gives \(shape)")
            }
        }
        if shapes["\(layer.name)/\(expected.count)"] != nil {
            throw fail("\(what) has more variables in the file than its config gives (\(expected.count))")
        }
    }

    /// A layer's config fields, with Keras' defaults where a field is absent.
    private struct Arguments {
        let layer: KerasGraph.Layer
        let fail: (String) -> FormatError

        init(_ layer: KerasGraph.Layer, walk: KerasGraphWalk) {
            self.layer = layer
            fail = walk.fail
        }

        private func bad(_ key: String) -> FormatError {
            fail("\(layer.className) \(layer.name) has an unreadable \(key)")
        }

        func double(_ key: String, default value: Double? = nil) throws(FormatError) -> Double {
            switch layer.config[key] {
            case .number(let n)? where n.isFinite: return n
            case nil, .null?: if let value { return value }
            default: break
            }
            throw bad(key)
        }

        func int(_ key: String, default value: Int? = nil) throws(FormatError) -> Int {
            let number = try double(key, default: value.map(Double.init))
            guard let int = Int(exactly: number), abs(int) < 1 << 20 else { throw bad(key) }
            return int
        }

        func bool(_ key: String, default value: Bool) throws(FormatError) -> Bool {
            switch layer.config[key] {
            case .bool(let b)?: return b
            case nil, .null?: return value
            default: throw bad(key)
            }
        }

        /// A per-axis pair: a list of two, or one number for both axes.
        func pair(_ key: String, default value: [Int]? = nil) throws(FormatError) -> [Int] {
            let values: [Int]
            switch layer.config[key] {
            case .number?: values = [try int(key), try int(key)]
            case .array(let items)?:
                values = items.compactMap { if case .number(let n) = $0 { Int(exactly: n) } else { nil } }
            case nil, .null?:
                guard let value else { throw bad(key) }
                values = value
            default: throw bad(key)
            }
            guard values.count == 2, values.allSatisfy({ $0 > 0 && $0 < 1 << 16 }) else { throw bad(key) }
            return values
        }

        func padding() throws(FormatError) -> Layer.Padding {
            switch layer.padding ?? "valid" {
            case "same": return .same
            case "valid": return .explicit([0, 0])
            case let other: throw fail("\(layer.className) \(layer.name) pads \"\(other)\", not same or valid")
            }
        }

        func channelsLast() throws(FormatError) {
            guard case .string(let format)? = layer.config["data_format"], format != "channels_last" else { return }
            throw fail("\(layer.className) \(layer.name) is \(format); only channels_last is read")
        }

        /// The layers of an activation named in the config (`linear`: none).
        func activation(_ key: String) throws(FormatError) -> [Layer] {
            guard let value = layer.config[key], value != .null else { return [] }
            guard case .string(let name) = value else {
                throw fail("\(layer.className) \(layer.name) has an activation that is not a Keras built-in name")
            }
            let activation: Layer.Activation
            switch name {
            case "linear": return []
            case "relu": activation = .init(.relu)
            case "relu6": activation = .init(.relu6)
            case "sigmoid": activation = .init(.sigmoid)
            case "tanh": activation = .init(.tanh)
            // Keras' softmax is over the last axis: the channels.
            case "softmax": activation = .init(.softmax)
            case "elu": activation = .init(.elu, alpha: 1)
            case "gelu": activation = .init(.gelu)
            case "silu", "swish": activation = .init(.silu)
            case "leaky_relu": activation = .init(.leakyReLU, negativeSlope: 0.2)
            default:
                throw fail(
                    "\(layer.className) \(layer.name) uses the activation \"\(name)\", which the schema does not have "
                        + "(relu, relu6, leaky_relu, elu, gelu, silu, sigmoid, tanh, softmax)")
            }
            return [.activation(activation)]
        }
    }
}
