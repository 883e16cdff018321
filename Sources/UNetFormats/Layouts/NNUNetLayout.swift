import Foundation
import UNetCheckpoint

/// nnU-Net v2's networks (dynamic-network-architectures `PlainConvUNet` and `ResidualEncoderUNet`),
/// 2-D and 3-D.
///
/// The arguments come from the plans when the file has them (`init_args.plans` of a
/// `checkpoint_final.pth`, or `plans.json` of its results folder): nothing is then assumed.
/// A bare state dict shows the stages, widths, kernels, biases, norms and (through the transposed
/// convs) the strides; the rest is nnU-Net's default plans and is said as assumptions.
enum NNUNetLayout: LibraryLayout {
    static let name = "nnunet"
    static let library = "dynamic-network-architectures"

    private static let plainClass = "dynamic_network_architectures.architectures.unet.PlainConvUNet"
    private static let residualClass = "dynamic_network_architectures.architectures.unet.ResidualEncoderUNet"

    static func recognizes(_ input: LayoutInput) -> Bool {
        input.shapes["encoder.stages.0.0.convs.0.conv.weight"] != nil
            || input.shapes["encoder.stages.0.blocks.0.conv1.conv.weight"] != nil
            || input.shapes["encoder.stem.convs.0.conv.weight"] != nil
    }

    // MARK: - Arguments

    static func arguments(_ input: LayoutInput) throws(FormatError) -> JSONValue {
        let seg = input.keys.filter { $0.hasPrefix("decoder.seg_layers.") && $0.hasSuffix(".weight") }
        guard let first = firstConvShape(input), let head = seg.compactMap({ input.shapes[$0] }).last else {
            throw input.unsupported(self, "no first encoder conv or no decoder.seg_layers")
        }
        let inputChannels = first[1]
        let classes = head[0]
        if let (plans, configuration) = plans(input) {
            guard let settings = Self.configuration(configuration, of: plans),
                let (className, kwargs) = Self.architecture(of: settings)
            else {
                throw input.unsupported(self, "the plans have no architecture for the configuration \(configuration)")
            }
            return .object([
                "network_class_name": .string(className), "arch_kwargs": kwargs,
                "input_channels": .number(Double(inputChannels)), "num_classes": .number(Double(classes)),
                "configuration": .string(configuration),
            ])
        }
        return try inferredArguments(input, inputChannels: inputChannels, classes: classes)
    }

    private static func firstConvShape(_ input: LayoutInput) -> [Int]? {
        input.shapes["encoder.stem.convs.0.conv.weight"] ?? input.shapes["encoder.stages.0.0.convs.0.conv.weight"]
            ?? input.shapes["encoder.stages.0.blocks.0.conv1.conv.weight"]
    }

    /// The plans and the configuration, from the checkpoint's `init_args` or the results folder.
    private static func plans(_ input: LayoutInput) -> (JSONValue, String)? {
        if let initArguments = input.entries["init_args"], let plans = initArguments["plans"],
            let configuration = initArguments["configuration"]?.stringValue
        {
            return (plans, configuration)
        }
        if let plans = input.entries[ModelFolder.nnunetPlans],
            let configuration = input.entries[ModelFolder.nnunetConfiguration]?.stringValue
        {
            return (plans, configuration)
        }
        return nil
    }

    /// A configuration of the plans, with what it inherits (`inherits_from`: the parent's fields,
    /// then the configuration's own, as nnU-Net's PlansManager merges them).
    static func configuration(_ name: String, of plans: JSONValue, depth: Int = 0) -> JSONValue? {
        guard depth < 8, let own = plans["configurations"]?[name]?.objectValue else { return nil }
        guard let parentName = own["inherits_from"]?.stringValue,
            let parent = configuration(parentName, of: plans, depth: depth + 1)?.objectValue
        else { return .object(own) }
        return .object(parent.merging(own) { _, child in child })
    }

    /// The network class and its arguments: the `architecture` of nnU-Net ≥ 2.4's plans, or
    /// what older plans' `UNet_class_name`, `UNet_base_num_features`, … give through nnU-Net's
    /// own `get_network_from_plans` of those versions (instance norm eps 1e-5 affine, LeakyReLU,
    /// conv bias, widths doubling from the base up to the maximum).
    static func architecture(of settings: JSONValue) -> (String, JSONValue)? {
        if let architecture = settings["architecture"], let className = architecture["network_class_name"]?.stringValue,
            let kwargs = architecture["arch_kwargs"]
        {
            return (className, kwargs)
        }
        guard let className = settings["UNet_class_name"]?.stringValue,
            let base = settings["UNet_base_num_features"]?.integerValue,
            let maximum = settings["unet_max_num_features"]?.integerValue,
            let kernels = settings["conv_kernel_sizes"]?.arrayValue, let dims = kernels.first?.integers?.count,
            let strides = settings["pool_op_kernel_sizes"], let encoder = settings["n_conv_per_stage_encoder"],
            let decoder = settings["n_conv_per_stage_decoder"], kernels.count <= 12, base > 0
        else { return nil }
        let features = (0..<kernels.count).map { min(base << $0, maximum) }
        let kwargs: [String: JSONValue] = [
            "n_stages": .number(Double(kernels.count)), "features_per_stage": JSONValue(features),
            "conv_op": .string("torch.nn.Conv\(dims)d"), "kernel_sizes": .array(kernels), "strides": strides,
            className == "ResidualEncoderUNet" ? "n_blocks_per_stage" : "n_conv_per_stage": encoder,
            "n_conv_per_stage_decoder": decoder, "conv_bias": .bool(true),
            "norm_op": .string("torch.nn.InstanceNorm\(dims)d"),
            "norm_op_kwargs": .object(["eps": .number(1e-5), "affine": .bool(true)]), "dropout_op": .null,
            "dropout_op_kwargs": .null, "nonlin": .string("torch.nn.LeakyReLU"),
            "nonlin_kwargs": .object(["inplace": .bool(true)]),
        ]
        return ("dynamic_network_architectures.architectures.unet.\(className)", .object(kwargs))
    }

    /// The arguments a bare state dict shows, completed by nnU-Net's default plans.
    private static func inferredArguments(_ input: LayoutInput, inputChannels: Int, classes: Int)
        throws(FormatError) -> JSONValue
    {
        let residual = input.shapes["encoder.stages.0.blocks.0.conv1.conv.weight"] != nil
        let shapes = input.shapes
        var features: [Int] = []
        var kernels: [[Int]] = []
        var convCounts: [Int] = []
        while true {
            let stage = features.count
            let convKey: (Int) -> String =
                residual
                ? { "encoder.stages.\(stage).blocks.\($0).conv1.conv.weight" }
                : { "encoder.stages.\(stage).0.convs.\($0).conv.weight" }
            guard let shape = shapes[convKey(0)] else { break }
            features.append(shape[0])
            kernels.append(Array(shape.dropFirst(2)))
            convCounts.append((0...).first { shapes[convKey($0)] == nil }!)
        }
        let stages = features.count
        guard stages >= 2 else { throw input.unsupported(self, "fewer than two encoder stages") }
        let dims = kernels[0].count
        var strides = [Array(repeating: 1, count: dims)]
        for stage in 1..<stages {
            guard let up = shapes["decoder.transpconvs.\(stages - 1 - stage).weight"] else {
                throw input.unsupported(
                    self, "no decoder.transpconvs.\(stages - 1 - stage) to tell stage \(stage)'s stride")
            }
            strides.append(Array(up.dropFirst(2)))
        }
        let decoderCounts = (0..<(stages - 1)).map { s in
            (0...).first { shapes["decoder.stages.\(s).convs.\($0).conv.weight"] == nil }!
        }
        let normKey = residual ? "encoder.stages.0.blocks.0.conv1.norm" : "encoder.stages.0.0.convs.0.norm"
        let norm: String
        if shapes["\(normKey).running_mean"] != nil {
            norm = "torch.nn.BatchNorm\(dims)d"
        } else if shapes["\(normKey).weight"] != nil {
            norm = "torch.nn.InstanceNorm\(dims)d"
        } else {
            throw input.unsupported(
                self,
                "the convs have no norm tensors: either no norm or a non-affine instance norm, which the weights "
                    + "cannot tell apart; read the checkpoint_final.pth or its results folder (the plans say which)")
        }
        var kwargs: [String: JSONValue] = [
            "n_stages": .number(Double(stages)), "features_per_stage": JSONValue(features),
            "conv_op": .string("torch.nn.Conv\(dims)d"), "kernel_sizes": .array(kernels.map(JSONValue.init)),
            "strides": .array(strides.map(JSONValue.init)), "n_conv_per_stage_decoder": JSONValue(decoderCounts),
            "conv_bias": .bool(shapes[String(firstConvKey(residual).dropLast("weight".count)) + "bias"] != nil),
            "norm_op": .string(norm), "norm_op_kwargs": .object(["eps": .number(1e-5), "affine": .bool(true)]),
            "dropout_op": .null, "dropout_op_kwargs": .null,
            "nonlin": .string("torch.nn.LeakyReLU"), "nonlin_kwargs": .object(["inplace": .bool(true)]),
        ]
        kwargs[residual ? "n_blocks_per_stage" : "n_conv_per_stage"] = JSONValue(convCounts)
        return .object([
            "network_class_name": .string(residual ? residualClass : plainClass), "arch_kwargs": .object(kwargs),
            "input_channels": .number(Double(inputChannels)), "num_classes": .number(Double(classes)),
            AssumedArguments.key: .object(Self.bareAssumptions.mapValues { .string($0) }),
        ])
    }

    private static func firstConvKey(_ residual: Bool) -> String {
        residual ? "encoder.stages.0.blocks.0.conv1.conv.weight" : "encoder.stages.0.0.convs.0.conv.weight"
    }

    /// What a bare nnU-Net state dict cannot show, taken from nnU-Net's default plans, by argument.
    static let bareAssumptions = [
        "arch_kwargs.norm_op_kwargs": "norm eps 1e-5 (nnU-Net's default plans; the state dict does not show it)",
        "arch_kwargs.nonlin_kwargs": "LeakyReLU slope 0.01 (nnU-Net's default plans; the state dict does not show it)",
        "arch_kwargs.strides": "the first stage does not down-sample (stride 1, as nnU-Net plans it)",
        "arch_kwargs.nonlin_first": "each conv is followed by its norm, then its non-linearity (nonlin_first false)",
    ]

    /// The labels as class names, and nnU-Net's settings under `nnunet` (docs/layouts.md): the
    /// configuration's patch size, spacing and normalisation, the channel names, and the plans and
    /// dataset.json themselves (an export writes them back into a results folder).
    static func metadata(_ input: LayoutInput) -> CheckpointMetadata {
        var metadata = CheckpointMetadata()
        let initArguments = input.entries["init_args"]
        guard let (plans, configuration) = plans(input) else { return metadata }
        let dataset = initArguments?["dataset_json"] ?? input.entries[ModelFolder.nnunetDataset]
        var fields: [String: JSONValue] = ["configuration": .string(configuration), "plans": plans]
        let settings = Self.configuration(configuration, of: plans)
        for key in ["patch_size", "spacing", "normalization_schemes", "use_mask_for_norm"] {
            fields[key] = settings?[key]
        }
        if let dataset {
            fields["dataset_json"] = dataset
            fields["channel_names"] = dataset["channel_names"]
            fields["labels"] = dataset["labels"]
            if let labels = dataset["labels"]?.objectValue {
                let numbered = labels.compactMap { name, value in value.integerValue.map { (name, $0) } }
                if numbered.count == labels.count, Set(numbered.map(\.1)) == Set(0..<numbered.count) {
                    metadata.classes = numbered.sorted { $0.1 < $1.1 }.map(\.0)
                }
            }
        }
        for key in ["trainer_name", "inference_allowed_mirroring_axes", "current_epoch"] {
            fields[key] = input.entries[key]
        }
        fields["fold"] = initArguments?["fold"]
        metadata.additionalFields["nnunet"] = .object(fields.filter { $0.value != .null })
        return metadata
    }

    // MARK: - Writing nnU-Net's own files

    /// Whether a `.pth` output is a training checkpoint nnU-Net's predictor loads (by its name).
    static func isTrainingCheckpoint(_ path: String) -> Bool {
        let name = URL(fileURLWithPath: path).lastPathComponent
        return name.hasPrefix("checkpoint_") && name.hasSuffix(".pth")
    }

    /// The dict nnU-Net's trainer saves, around the network's state dict: what its predictor
    /// reads (`network_weights`, `trainer_name`, `init_args.configuration`,
    /// `inference_allowed_mirroring_axes`) from what the checkpoint recorded; no optimizer state.
    static func trainingCheckpoint(
        weights: [(key: String, value: PyTorchWriter.Value)], metadata: CheckpointMetadata, file: String
    ) throws(FormatError) -> [(key: String, value: PyTorchWriter.Value)] {
        guard let settings = metadata.additionalFields["nnunet"], let configuration = settings["configuration"] else {
            throw FormatError(
                .unsupported, file: file,
                "an nnU-Net checkpoint needs the plans' configuration, which only a network read from an nnU-Net "
                    + "checkpoint or results folder records (metadata.nnunet); write a .pth of the weights instead")
        }
        var initArguments: [String: JSONValue] = [
            "configuration": configuration, "fold": settings["fold"] ?? .number(0),
        ]
        initArguments["plans"] = settings["plans"]
        initArguments["dataset_json"] = settings["dataset_json"]
        return [
            ("network_weights", .dict(weights)), ("optimizer_state", .json(.null)), ("grad_scaler_state", .json(.null)),
            ("logging", .json(.object([:]))), ("_best_ema", .json(.null)),
            ("current_epoch", .json(settings["current_epoch"] ?? .number(0))),
            ("init_args", .json(.object(initArguments))),
            ("trainer_name", .json(settings["trainer_name"] ?? .string("nnUNetTrainer"))),
            ("inference_allowed_mirroring_axes", .json(settings["inference_allowed_mirroring_axes"] ?? .null)),
        ]
    }

    /// `plans.json` and `dataset.json` for the results folder of a checkpoint written in
    /// `<results>/<Trainer>__<Plans>__<configuration>/fold_N/`; none for a checkpoint elsewhere.
    static func besideFiles(for path: String, metadata: CheckpointMetadata) -> [(path: String, json: JSONValue)] {
        guard isTrainingCheckpoint(path) else { return [] }
        let fold = URL(fileURLWithPath: path).deletingLastPathComponent()
        guard fold.lastPathComponent.hasPrefix("fold_"), let settings = metadata.additionalFields["nnunet"] else {
            return []
        }
        let results = fold.deletingLastPathComponent()
        return [(ModelFolder.nnunetPlans, settings["plans"]), (ModelFolder.nnunetDataset, settings["dataset_json"])]
            .compactMap { name, json in json.map { (results.appendingPathComponent(name).path, $0) } }
    }

    // MARK: - The network

    static func reading(_ arguments: JSONValue, file: String?) throws(FormatError) -> LayoutReading {
        try NNUNetBuilder(arguments: arguments, file: file).reading()
    }
}

/// Builds the network `PlainConvUNet` / `ResidualEncoderUNet` builds from its arguments.
private struct NNUNetBuilder {
    let arguments: JSONValue
    let file: String?
    let residual: Bool
    let kwargs: JSONValue
    let dims: Int
    let stages: Int
    let features: [Int]
    let kernels: [[Int]]
    let strides: [[Int]]
    let bias: Bool
    let norm: (kind: Layer.Norm.Kind, eps: Double, affine: Bool)?
    let activation: Layer?
    let dropout: Double?
    let nonlinFirst: Bool

    init(arguments: JSONValue, file: String?) throws(FormatError) {
        self.arguments = arguments
        self.file = file
        func fail(_ message: String) -> FormatError {
            FormatError(.unsupported, file: file, "nnunet: \(message)")
        }
        guard let className = arguments["network_class_name"]?.stringValue, let kwargs = arguments["arch_kwargs"]
        else { throw fail("no network_class_name or arch_kwargs") }
        let shortName = className.split(separator: ".").last.map(String.init) ?? className
        switch shortName {
        case "PlainConvUNet": residual = false
        case "ResidualEncoderUNet", "ResEncUNet": residual = true
        default:
            throw fail(
                "the network class \(className) is not one unet-ckpt builds (PlainConvUNet, ResidualEncoderUNet)")
        }
        self.kwargs = kwargs
        guard let stages = kwargs["n_stages"]?.integerValue, stages >= 2, stages <= 12 else {
            throw fail("n_stages is missing or not between 2 and 12")
        }
        self.stages = stages
        guard let convOp = kwargs["conv_op"]?.stringValue, let dims = Self.dims(ofClass: convOp) else {
            throw fail("conv_op \(kwargs["conv_op"]?.compactText ?? "missing") is not torch's Conv2d or Conv3d")
        }
        self.dims = dims
        func perStage(_ key: String) throws(FormatError) -> [Int] {
            guard let value = kwargs[key] else { throw fail("\(key) is missing") }
            if let single = value.integerValue { return Array(repeating: single, count: stages) }
            guard let list = value.integers, list.count == stages else {
                throw fail("\(key) \(value.compactText) is not one number or one per stage")
            }
            return list
        }
        func perStageAndAxis(_ key: String) throws(FormatError) -> [[Int]] {
            guard let value = kwargs[key] else { throw fail("\(key) is missing") }
            let items = value.arrayValue ?? Array(repeating: value, count: stages)
            guard items.count == stages else { throw fail("\(key) has \(items.count) entries for \(stages) stages") }
            var result: [[Int]] = []
            for item in items {
                if let single = item.integerValue {
                    result.append(Array(repeating: single, count: dims))
                } else if let list = item.integers, list.count == dims {
                    result.append(list)
                } else {
                    throw fail("\(key) entry \(item.compactText) is not one number or one per axis")
                }
            }
            return result
        }
        features = try perStage("features_per_stage")
        kernels = try perStageAndAxis("kernel_sizes")
        strides = try perStageAndAxis("strides")
        guard kernels.allSatisfy({ $0.allSatisfy { $0 >= 1 && $0 % 2 == 1 } }) else {
            throw fail(
                "a kernel size that is not odd and positive: nnU-Net's padding (k-1)/2 keeps sizes only for odd kernels"
            )
        }
        bias = kwargs["conv_bias"]?.boolValue ?? false
        nonlinFirst = kwargs["nonlin_first"]?.boolValue ?? false
        if let normOp = kwargs["norm_op"]?.stringValue {
            let normArguments = kwargs["norm_op_kwargs"] ?? .object([:])
            let shortNorm = normOp.split(separator: ".").last.map(String.init) ?? normOp
            let kind: Layer.Norm.Kind
            let affineDefault: Bool
            switch shortNorm {
            case "InstanceNorm\(dims)d":
                kind = .instance
                affineDefault = false
                if normArguments["track_running_stats"]?.boolValue == true {
                    throw fail("an instance norm with track_running_stats normalises with running statistics")
                }
            case "BatchNorm\(dims)d":
                kind = .batch
                affineDefault = true
            default: throw fail("the norm \(normOp) is not one unet-ckpt builds (InstanceNorm, BatchNorm)")
            }
            norm = (
                kind, normArguments["eps"]?.doubleValue ?? 1e-5, normArguments["affine"]?.boolValue ?? affineDefault
            )
        } else {
            norm = nil
        }
        if let nonlin = kwargs["nonlin"]?.stringValue {
            let nonlinArguments = kwargs["nonlin_kwargs"] ?? .object([:])
            switch nonlin.split(separator: ".").last.map(String.init) ?? nonlin {
            case "LeakyReLU":
                activation = .activation(
                    .init(.leakyReLU, negativeSlope: nonlinArguments["negative_slope"]?.doubleValue ?? 0.01))
            case "ReLU": activation = .activation(.init(.relu))
            case "ELU": activation = .activation(.init(.elu, alpha: nonlinArguments["alpha"]?.doubleValue ?? 1))
            case "GELU":
                activation = .activation(
                    .init(.gelu, approximate: nonlinArguments["approximate"]?.stringValue ?? "none"))
            default: throw fail("the non-linearity \(nonlin) is not one unet-ckpt builds (LeakyReLU, ReLU, ELU, GELU)")
            }
        } else {
            activation = nil
        }
        if kwargs["dropout_op"]?.stringValue != nil {
            dropout = kwargs["dropout_op_kwargs"]?["p"]?.doubleValue ?? 0.5
        } else {
            dropout = nil
        }
        if residual {
            if let block = kwargs["block"]?.stringValue, !block.hasSuffix("BasicBlockD") {
                throw fail("residual blocks \(block): unet-ckpt builds BasicBlockD")
            }
            if kwargs["squeeze_excitation"]?.boolValue == true {
                throw fail("squeeze-excitation in the residual encoder is not built")
            }
            if let pool = kwargs["pool_type"]?.stringValue, pool != "conv" {
                throw fail("pool_type \(pool): unet-ckpt builds the strided-conv encoder")
            }
            if kwargs["disable_default_stem"]?.boolValue == true {
                throw fail("disable_default_stem is not built")
            }
        }
    }

    private static func dims(ofClass name: String) -> Int? {
        switch name.split(separator: ".").last {
        case "Conv2d": 2
        case "Conv3d": 3
        default: nil
        }
    }

    /// One `ConvDropoutNormReLU`: conv, dropout, norm, non-linearity (the last two swapped with
    /// `nonlin_first`); its tensors also under `all_modules.<index>`.
    func convBlock(
        _ layers: inout KeyedLayers, _ aliases: inout [(alias: String, of: String)], source: String, prefix: String,
        input: Int, out: Int, kernel: [Int], stride: [Int], bias: Bool? = nil, dropout: Bool = true, activation: Layer?
    ) -> [Layer] {
        let hasBias = bias ?? self.bias
        var result = [
            layers.conv(
                "\(source).conv", in: prefix, out: out, kernel: kernel, stride: stride, padding: layers.padding(kernel),
                bias: hasBias)
        ]
        var modules: [(kind: String, layer: Layer)] = [("conv", result[0])]
        if dropout, let rate = self.dropout { modules.append(("dropout", .dropout(.init(rate: rate)))) }
        var tail: [(String, Layer)] = []
        if let norm {
            tail.append(
                ("norm", layers.norm("\(source).norm", in: prefix, kind: norm.kind, eps: norm.eps, affine: norm.affine))
            )
        }
        if let activation { tail.append(("nonlin", activation)) }
        if nonlinFirst && tail.count == 2 { tail.reverse() }
        modules += tail
        result += modules.dropFirst().map(\.layer)
        for (index, module) in modules.enumerated() {
            let parameters: [String]
            switch module.kind {
            case "conv": parameters = hasBias ? ["weight", "bias"] : ["weight"]
            case "norm":
                parameters =
                    (norm!.affine ? ["weight", "bias"] : [])
                    + (norm!.kind == .batch ? ["running_mean", "running_var"] : [])
            default: parameters = []
            }
            for parameter in parameters {
                aliases.append(("\(source).all_modules.\(index).\(parameter)", "\(source).\(module.kind).\(parameter)"))
            }
        }
        return result
    }

    func reading() throws(FormatError) -> LayoutReading {
        guard let inputChannels = arguments["input_channels"]?.integerValue,
            let classes = arguments["num_classes"]?.integerValue
        else {
            throw FormatError(.unsupported, file: file, "nnunet: input_channels or num_classes missing")
        }
        var layers = KeyedLayers(dims: dims)
        var aliases: [(alias: String, of: String)] = []
        let ones = layers.axes(1)
        var encoder: [UNetArchitecture.EncoderStage] = []
        var channels = inputChannels
        if residual {
            let blocks = try perStageCounts("n_blocks_per_stage")
            let stem = kwargs["stem_channels"]?.integerValue ?? features[0]
            for stage in 0..<stages {
                let prefix = "encoder.\(stage)"
                var stageLayers: [Layer] = []
                if stage == 0 {
                    stageLayers += convBlock(
                        &layers, &aliases, source: "encoder.stem.convs.0", prefix: prefix, input: channels, out: stem,
                        kernel: kernels[0], stride: ones, activation: activation)
                    channels = stem
                }
                for block in 0..<blocks[stage] {
                    let source = "encoder.stages.\(stage).blocks.\(block)"
                    let stride = block == 0 ? strides[stage] : ones
                    stageLayers.append(
                        basicBlock(
                            &layers, &aliases, source: source, prefix: prefix, input: channels, out: features[stage],
                            kernel: kernels[stage], stride: stride))
                    channels = features[stage]
                }
                encoder.append(.init(name: prefix, layers: stageLayers))
            }
        } else {
            let convs = try perStageCounts("n_conv_per_stage")
            for stage in 0..<stages {
                let prefix = "encoder.\(stage)"
                var stageLayers: [Layer] = []
                for conv in 0..<convs[stage] {
                    stageLayers += convBlock(
                        &layers, &aliases, source: "encoder.stages.\(stage).0.convs.\(conv)", prefix: prefix,
                        input: channels, out: features[stage], kernel: kernels[stage],
                        stride: conv == 0 ? strides[stage] : ones, activation: activation)
                    channels = features[stage]
                }
                encoder.append(.init(name: prefix, layers: stageLayers))
            }
        }
        // The decoder holds the encoder as `decoder.encoder`: every encoder tensor a second time.
        let encoderAliases = aliases
        for key in layers.keys.map(\.source) { aliases.append(("decoder.\(key)", key)) }
        for alias in encoderAliases { aliases.append(("decoder.\(alias.alias)", alias.of)) }

        let decoderConvs = try perStageCounts("n_conv_per_stage_decoder", count: stages - 1)
        var decoder: [UNetArchitecture.DecoderStage] = []
        var heads: [UNetArchitecture.Head] = []
        for s in 0..<(stages - 1) {
            let level = stages - 2 - s
            let prefix = "decoder.\(level)"
            let skip = features[level]
            let up = layers.convTranspose(
                "decoder.transpconvs.\(s)", in: prefix, out: skip, kernel: strides[level + 1],
                stride: strides[level + 1], bias: bias)
            var stageLayers: [Layer] = []
            var input = 2 * skip
            for conv in 0..<decoderConvs[s] {
                stageLayers += convBlock(
                    &layers, &aliases, source: "decoder.stages.\(s).convs.\(conv)", prefix: prefix, input: input,
                    out: skip, kernel: kernels[level], stride: ones, activation: activation)
                input = skip
            }
            decoder.append(
                .init(
                    name: prefix, up: [up], skip: level, merge: .init(order: .upsampledFirst, match: .exact),
                    layers: stageLayers))
        }
        // One segmentation layer per decoder stage: the last is the output, the others deep supervision
        // (listed highest resolution first, as the library returns them).
        let last = stages - 2
        for s in [last] + Array(stride(from: last - 1, through: 0, by: -1)) {
            let prefix = s == last ? "head" : "deep_supervision.\(s)"
            let conv = layers.conv(
                "decoder.seg_layers.\(s)", in: prefix, out: classes, kernel: ones,
                padding: layers.axes(0),
                bias: true)
            heads.append(.init(name: prefix, from: s, role: s == last ? .output : .deepSupervision, layers: [conv]))
        }
        let shortName = residual ? "ResidualEncoderUNet" : "PlainConvUNet"
        let architecture = UNetArchitecture(
            name: "nnU-Net \(shortName)", spatialDims: dims, inChannels: inputChannels, encoder: encoder,
            decoder: decoder, heads: heads)
        let assumed = AssumedArguments.texts(in: arguments)
        return LayoutReading(
            library: NNUNetLayout.library, className: arguments["network_class_name"]?.stringValue ?? shortName,
            architecture: architecture, keys: layers.keys, aliases: aliases, arguments: arguments, assumptions: assumed)
    }

    private func perStageCounts(_ key: String, count: Int? = nil) throws(FormatError) -> [Int] {
        let count = count ?? stages
        guard let value = kwargs[key] else {
            throw FormatError(.unsupported, file: file, "nnunet: \(key) is missing")
        }
        if let single = value.integerValue { return Array(repeating: single, count: count) }
        guard let list = value.integers, list.count >= count, list.allSatisfy({ $0 >= 1 && $0 <= 64 }) else {
            throw FormatError(.unsupported, file: file, "nnunet: \(key) \(value.compactText) is not \(count) counts")
        }
        return Array(list.prefix(count))
    }

    /// `BasicBlockD`: conv1 (strided) → norm → nonlin, conv2 → norm, plus the shortcut (average
    /// pool of the stride, then a 1×1 conv without bias and a norm when the width changes), then
    /// the non-linearity.
    func basicBlock(
        _ layers: inout KeyedLayers, _ aliases: inout [(alias: String, of: String)], source: String, prefix: String,
        input: Int, out: Int, kernel: [Int], stride: [Int]
    ) -> Layer {
        let name = layers.name("block", in: prefix)
        let inner = "\(prefix).\(name)"
        let ones = layers.axes(1)
        var body = convBlock(
            &layers, &aliases, source: "\(source).conv1", prefix: inner, input: input, out: out, kernel: kernel,
            stride: stride, activation: activation)
        body += convBlock(
            &layers, &aliases, source: "\(source).conv2", prefix: inner, input: out, out: out, kernel: kernel,
            stride: ones, dropout: false, activation: nil)
        var shortcut: [Layer] = []
        let strided = stride != ones
        if strided {
            shortcut.append(
                .avgPool(
                    .init(
                        kernel: stride, stride: stride, padding: layers.axes(0), ceilMode: false,
                        countIncludePad: true)))
        }
        if input != out {
            shortcut += convBlock(
                &layers, &aliases, source: "\(source).skip.\(strided ? 1 : 0)", prefix: inner, input: input, out: out,
                kernel: ones, stride: ones, bias: false, dropout: false, activation: nil)
        }
        return .residual(.init(name: name, body: body, shortcut: shortcut, after: activation.map { [$0] } ?? []))
    }
}
