import UNetCheckpoint

/// Keras functional U-Nets (the zhixuhao/unet style and its relatives): the weighted layers in
/// creation order (from the model config, or from Keras' automatic names when a `.weights.h5`
/// has no config) are read as encoder levels, decoder levels (an up-sampling step, then convs)
/// and the head. Conv2D, Conv2DTranspose and BatchNormalization carry weights.
enum KerasLayout {
    static let name = "keras-functional"
    /// The layout of a network read from its Keras graph as schema 2.0 (``KerasGraphWalk``).
    static let graphName = "keras-graph"

    struct Plan {
        var layout = KerasLayout.name
        var renames: [String: String] = [:]
        /// 1.0 fields for ``ArchitectureInference`` (the keras-functional family).
        var known: [String: JSONValue] = [:]
        /// The whole network, when it was read from the graph.
        var architecture: UNetArchitecture?
        /// Fields taken from Keras' or the family's defaults because the file cannot show them.
        var assumptions: [String] = []
        /// Top-level metadata fields to record (a graph's model config, for the export).
        var metadata: [String: JSONValue] = [:]
    }

    /// One step of the network in creation order.
    private enum Step {
        case conv(layer: String, kernel: [Int], bias: Bool, activation: String?, padding: String?)
        case transposed(layer: String, kernel: [Int], bias: Bool)
        case norm(layer: String, eps: Double)
        case pool
        case upsample(layer: String, interpolation: String)
        case dropout(rate: Double)
        case concat(inputs: [String])
        case activation(String)
    }

    /// With a model config: the network its graph describes, as the keras-functional family (1.0)
    /// when that family reads the same network with the same tensors in the same places, else as
    /// schema 2.0. Without one (a `.weights.h5`): the family's reading from Keras' automatic names.
    static func plan(_ source: SourceTensors, file: String) throws(FormatError) -> Plan {
        let shapes = Dictionary(source.tensors.map { ($0.key, $0.tensor.shape) }, uniquingKeysWith: { a, _ in a })
        guard let graph = source.kerasGraph else { return try familyPlan(source, file: file) }
        let reading = try KerasGraphWalk.read(graph, shapes: shapes, file: file)
        if let family = try? familyPlan(source, file: file), sameNetwork(family, reading, shapes: shapes, file: file) {
            return family
        }
        return Plan(
            layout: graphName, renames: reading.renames, architecture: reading.architecture,
            metadata: KerasGraphExport.metadata(for: graph))
    }

    /// Whether the family's 1.0 reading is the graph's network: equal up to layer names,
    /// `same` padding written out, and crop for equal sizes, with each tensor at the same place.
    private static func sameNetwork(
        _ family: Plan, _ reading: KerasGraphWalk.Reading, shapes: [String: [Int]], file: String
    ) -> Bool {
        var canonical: [String: [Int]] = [:]
        for (key, target) in family.renames {
            guard let shape = shapes[key] else { continue }
            canonical[target] = shape.count == 4 ? [shape[3], shape[2], shape[0], shape[1]] : shape
        }
        guard let inferred = try? ArchitectureInference.infer(shapes: canonical, known: family.known, file: file),
            comparable(inferred) == comparable(reading.architecture),
            let familyKeys = try? inferred.network().tensorSpecs.map(\.key),
            let graphKeys = try? reading.architecture.network().tensorSpecs.map(\.key)
        else { return false }
        let familyPlace = Dictionary(familyKeys.enumerated().map { ($1, $0) }, uniquingKeysWith: { a, _ in a })
        let graphPlace = Dictionary(graphKeys.enumerated().map { ($1, $0) }, uniquingKeysWith: { a, _ in a })
        return familyKeys.count == graphKeys.count
            && reading.renames.allSatisfy { key, target in
                guard let place = graphPlace[target], let other = family.renames[key] else { return false }
                return familyPlace[other] == place
            }
    }

    /// The network without what the two readings name or write differently.
    private static func comparable(_ network: UNetArchitecture) -> UNetArchitecture {
        func strip(_ layers: [Layer]) -> [Layer] {
            layers.map { layer in
                switch layer {
                case .conv(var conv):
                    conv.name = ""
                    if conv.padding == .same, conv.stride.allSatisfy({ $0 == 1 }),
                        conv.kernel.allSatisfy({ $0 % 2 == 1 })
                    {
                        conv.padding = .explicit(zip(conv.kernel, conv.dilation).map { ($0 - 1) * $1 / 2 })
                    }
                    return .conv(conv)
                case .convTranspose(var conv):
                    conv.name = ""
                    return .convTranspose(conv)
                case .norm(var norm):
                    norm.name = nil
                    norm.momentum = nil
                    return .norm(norm)
                default: return layer
                }
            }
        }
        var result = network
        result.name = nil
        for index in result.encoder.indices { result.encoder[index].layers = strip(result.encoder[index].layers) }
        for index in result.decoder.indices {
            result.decoder[index].up = strip(result.decoder[index].up)
            result.decoder[index].layers = strip(result.decoder[index].layers)
            if result.decoder[index].merge?.match == .exact { result.decoder[index].merge?.match = .crop }
        }
        for index in result.heads.indices { result.heads[index].layers = strip(result.heads[index].layers) }
        return result
    }

    /// The keras-functional family's reading (schema 1.0 fields and renames).
    private static func familyPlan(_ source: SourceTensors, file: String) throws(FormatError) -> Plan {
        func fail(_ message: String) -> FormatError {
            FormatError(.unsupported, file: file, "cannot read the Keras model as a U-Net: \(message)")
        }
        var shapes: [String: [Int]] = [:]
        var counts: [String: Int] = [:]
        for (key, tensor) in source.tensors {
            guard let slash = key.lastIndex(of: "/") else { throw fail("the weight \(key) has no layer") }
            let layer = String(key[..<slash])
            if key.hasSuffix("/0") { shapes[layer] = tensor.shape }
            counts[layer, default: 0] += 1
        }
        let steps: [Step]
        if let graph = source.kerasGraph {
            steps = try graphSteps(graph, shapes: shapes, counts: counts, fail: fail)
        } else {
            steps = try stepsFromNames(shapes: shapes, counts: counts, file: file, fail: fail)
        }
        return try parse(steps, shapes: shapes, graphKnown: source.kerasGraph != nil, fail: fail)
    }

    private static func graphSteps(
        _ graph: KerasGraph, shapes: [String: [Int]], counts: [String: Int], fail: (String) -> FormatError
    ) throws(FormatError) -> [Step] {
        var steps: [Step] = []
        for layer in graph.layers {
            let kernel = shapes[layer.name]
            switch layer.className {
            case "Conv2D":
                guard let kernel else { throw fail("Conv2D \(layer.name) has no weights in the file") }
                steps.append(
                    .conv(
                        layer: layer.name, kernel: kernel, bias: counts[layer.name] == 2,
                        activation: layer.activation, padding: layer.padding))
            case "Conv2DTranspose":
                guard let kernel else { throw fail("Conv2DTranspose \(layer.name) has no weights in the file") }
                steps.append(.transposed(layer: layer.name, kernel: kernel, bias: counts[layer.name] == 2))
            case "BatchNormalization":
                steps.append(.norm(layer: layer.name, eps: layer.number("epsilon") ?? 1e-3))
            case "MaxPooling2D":
                let sides: [Double] =
                    if case .array(let values)? = layer.config["pool_size"] {
                        values.compactMap { if case .number(let n) = $0 { n } else { nil } }
                    } else { [2, 2] }
                let strides: [Double] =
                    if case .array(let values)? = layer.config["strides"] {
                        values.compactMap { if case .number(let n) = $0 { n } else { nil } }
                    } else { sides }
                guard sides == [2, 2], strides == [2, 2] else {
                    throw fail("MaxPooling2D \(layer.name) has pool size \(sides) and strides \(strides), not 2×2")
                }
                steps.append(.pool)
            case "UpSampling2D":
                var interpolation = "nearest"
                if case .string(let mode)? = layer.config["interpolation"] { interpolation = mode }
                steps.append(.upsample(layer: layer.name, interpolation: interpolation))
            case "Dropout", "SpatialDropout2D": steps.append(.dropout(rate: layer.number("rate") ?? 0))
            case "Concatenate": steps.append(.concat(inputs: layer.inputs))
            case "Activation", "ReLU": steps.append(.activation(layer.activation ?? "relu"))
            case "LeakyReLU":
                steps.append(
                    .activation("leaky_relu:\(layer.number("negative_slope") ?? layer.number("alpha") ?? 0.3)"))
            case "InputLayer", "Cropping2D", "ZeroPadding2D": continue
            default:
                if counts[layer.name] != nil {
                    throw fail(
                        "layer \(layer.name) is a \(layer.className), which a U-Net of this family does not have")
                }
            }
        }
        return steps
    }

    /// Without a config: Conv2D layers ordered by Keras' automatic names (`conv2d`, `conv2d_1`, …);
    /// a 2×2 conv after the 3×3 ones is read as the conv after a ×2 up-sampling.
    private static func stepsFromNames(
        shapes: [String: [Int]], counts: [String: Int], file: String, fail: (String) -> FormatError
    ) throws(FormatError) -> [Step] {
        func order(_ name: String) -> Int? {
            if name == "conv2d" { return 0 }
            return name.number(after: "conv2d_")
        }
        let names = shapes.keys.sorted()
        let numbered = names.compactMap { name in order(name).map { (name, $0) } }
        guard numbered.count == names.count, !names.isEmpty,
            shapes.values.allSatisfy({ $0.count == 4 && $0[0] > 0 })
        else {
            throw FormatError(
                .unsupported, file: file,
                "a .weights.h5 holds no model config; read the .keras file or the legacy .h5 (model.save) "
                    + "(its layers \(names.prefix(4).joined(separator: ", "))\(names.count > 4 ? ", …" : "") are not "
                    + "only the plain Conv2D chain whose order the weights alone show)")
        }
        let ordered = numbered.sorted { $0.1 < $1.1 }.map(\.0)
        let levelKernel = shapes[ordered[0]]?[0] ?? 0
        return ordered.flatMap { name -> [Step] in
            let kernel = shapes[name] ?? []
            let conv = Step.conv(layer: name, kernel: kernel, bias: counts[name] == 2, activation: nil, padding: nil)
            return kernel[0] == 2 && levelKernel != 2 ? [.upsample(layer: "", interpolation: "nearest"), conv] : [conv]
        }
    }

    private static func parse(_ steps: [Step], shapes: [String: [Int]], graphKnown: Bool, fail: (String) -> FormatError)
        throws(FormatError) -> Plan
    {
        var plan = Plan()
        var encoder: [[String]] = [[]]  // conv layer names per level
        var norms: [String: String] = [:]  // conv layer → its norm layer
        var decoder: [(up: String?, convs: [String])] = []
        var head: [String]
        var dropout: [JSONValue] = []
        var upsample: [String: JSONValue] = [:]
        var skipOrder = "skip_first"
        var activation: String?
        var convActivation: String?, padding: String?, lastConvActivation: String?
        var bnEps: Double?
        var inDecoder = false
        var expectUpConv = false
        var lastConv: String?
        var encoderLayers: Set<String> = []
        for step in steps {
            switch step {
            case .conv(let layer, let kernel, let bias, let act, let pad):
                if convActivation == nil { convActivation = act }
                if padding == nil { padding = pad }
                lastConvActivation = act
                if !inDecoder {
                    encoder[encoder.count - 1].append(layer)
                    encoderLayers.insert(layer)
                } else if expectUpConv {
                    decoder[decoder.count - 1].up = layer
                    upsample["conv_kernel"] = .number(Double(kernel[0]))
                    upsample["bias"] = .bool(bias)
                    upsample["activation"] = .bool(graphKnown ? (act ?? "linear") != "linear" : true)
                    expectUpConv = false
                } else {
                    decoder[decoder.count - 1].convs.append(layer)
                }
                lastConv = layer
            case .transposed(let layer, let kernel, let bias):
                if !inDecoder { inDecoder = true }
                decoder.append((layer, []))
                upsample = [
                    "kind": .string("transposed_conv"), "kernel": .number(Double(kernel[0])), "bias": .bool(bias),
                ]
                lastConv = layer
            case .norm(let layer, let eps):
                guard let conv = lastConv else { throw fail("a BatchNormalization before any convolution") }
                norms[conv] = layer
                bnEps = eps
            case .pool:
                guard !inDecoder else { throw fail("a max-pooling layer inside the decoder") }
                encoder.append([])
            case .upsample(_, let interpolation):
                inDecoder = true
                decoder.append((nil, []))
                expectUpConv = true
                upsample["kind"] = .string(interpolation == "bilinear" ? "bilinear" : "nearest")
                if interpolation == "bilinear" { upsample["align_corners"] = .bool(false) }
            case .dropout(let rate):
                let place = inDecoder ? "decoder.\(encoder.count - 1 - decoder.count)" : "encoder.\(encoder.count - 1)"
                dropout.append(.object(["after": .string(place), "rate": .number(rate)]))
            case .concat(let inputs):
                if let first = inputs.first, !encoderLayers.contains(first), inputs.count == 2 {
                    // The first input comes from the up-sampling path unless it traces to the encoder.
                    skipOrder =
                        inputs.last.map { encoderLayers.contains($0) || $0.hasPrefix("dropout") } == true
                        ? "upsampled_first" : "skip_first"
                }
            case .activation(let kind):
                if activation == nil { activation = kind }
            }
        }
        if !inDecoder { throw fail("no up-sampling step was found") }
        if !graphKnown {
            // Without the config the pools are unknown: split the encoder convs evenly.
            let all = encoder.flatMap { $0 }
            let levels = decoder.count + 1
            guard all.count % levels == 0 else {
                throw fail("\(all.count) encoder convs do not split into \(levels) levels")
            }
            let per = all.count / levels
            encoder = (0..<levels).map { Array(all[($0 * per)..<(($0 + 1) * per)]) }
        }
        let depth = encoder.count - 1
        guard depth >= 1, decoder.count == depth else {
            throw fail("\(encoder.count) encoder levels but \(decoder.count) up-sampling steps")
        }
        // The last level keeps as many convs as the top encoder level; the rest form the head.
        let kept = encoder[0].count
        head = Array(decoder[depth - 1].convs.dropFirst(kept))
        decoder[depth - 1].convs = Array(decoder[depth - 1].convs.prefix(kept))
        guard let classifier = head.popLast(), let shape = shapes[classifier], shape[0] == 1, shape[1] == 1 else {
            throw fail("no 1×1 classifier convolution at the end")
        }

        func assign(_ layer: String, _ canonical: String) {
            plan.renames["\(layer)/0"] = "\(canonical).weight"
            plan.renames["\(layer)/1"] = "\(canonical).bias"
            if let norm = norms[layer] {
                let target = canonical.replacingOccurrences(of: ".conv", with: ".norm")
                for (index, field) in ["weight", "bias", "running_mean", "running_var"].enumerated() {
                    plan.renames["\(norm)/\(index)"] = "\(target).\(field)"
                }
            }
        }
        for (level, convs) in encoder.enumerated() {
            for (j, conv) in convs.enumerated() { assign(conv, "encoder.\(level).conv\(j)") }
        }
        for (index, entry) in decoder.enumerated() {
            let level = depth - 1 - index
            if let up = entry.up { assign(up, "decoder.\(level).up") }
            for (j, conv) in entry.convs.enumerated() { assign(conv, "decoder.\(level).conv\(j)") }
        }
        for (j, conv) in head.enumerated() { assign(conv, "head.conv\(j)") }
        assign(classifier, "head.out")

        var known: [String: JSONValue] = ["name": .string(Self.name)]
        known["conv"] = .object(["padding": .string(padding ?? "same")])
        let act = convActivation.flatMap { $0 == "linear" ? nil : $0 } ?? activation ?? "relu"
        if act.hasPrefix("leaky_relu") {
            let slope = Double(act.split(separator: ":").last ?? "") ?? 0.3
            known["activation"] = .object(["kind": .string("leaky_relu"), "negative_slope": .number(slope)])
        } else if act == "relu" {
            known["activation"] = .object(["kind": .string("relu")])
        } else {
            throw fail("activation \"\(act)\" is not one the schema describes (relu, leaky_relu)")
        }
        known["downsample"] = .object(["kind": .string("max_pool"), "size": .number(2)])
        if !graphKnown {
            plan.assumptions.append(
                "the weights alone do not show the pooling: assumed 2×2 max-pooling between levels, "
                    + "with the convs split evenly (the zhixuhao family)")
        }
        if let bnEps {
            known["norm"] = .object(["kind": .string("batch"), "eps": .number(bnEps)])
            if !graphKnown { plan.assumptions.append("assumed Keras' default BatchNormalization epsilon 1e-3") }
        } else {
            known["norm"] = .object(["kind": .string("none")])
        }
        if !upsample.isEmpty { known["upsample"] = .object(upsample) }
        known["skip"] = .object(["order": .string(skipOrder), "merge": .string("crop")])
        if !dropout.isEmpty { known["dropout"] = .array(dropout) }
        let final = graphKnown ? (lastConvActivation ?? "linear") : "sigmoid"
        switch final {
        case "sigmoid": known["final_activation"] = .string("sigmoid")
        case "softmax": known["final_activation"] = .string("softmax")
        case "linear": known["final_activation"] = .string("none")
        default: throw fail("the classifier's activation \"\(final)\" is not none, sigmoid or softmax")
        }
        plan.known = known
        return plan
    }
}
