import UNetCheckpoint

/// A library's own key layout read into a schema 2.0 network (docs/layouts.md).
///
/// A layout works out the library's constructor arguments from the tensor keys and shapes and
/// from what the file carries (nnU-Net's plans, smp's `config.json`, Lightning's hyper-parameters),
/// then builds from those arguments the network the library builds, with the library key of every
/// tensor. The arguments are recorded in the metadata, so that an export rebuilds the same keys.
protocol LibraryLayout: Sendable {
    /// The name recorded in `metadata.source.layout` and accepted by `--layout`.
    static var name: String { get }
    /// The library and class, as recorded in `metadata.source` (`monai`, `monai.networks.nets.UNet`).
    static var library: String { get }
    /// Whether the keys are this library's (its marker keys are there); a layout that recognises
    /// a file and then cannot read it says why instead of letting another layout guess.
    static func recognizes(_ input: LayoutInput) -> Bool
    /// The library's arguments for this file, read off the tensors and the file's other entries.
    static func arguments(_ input: LayoutInput) throws(FormatError) -> JSONValue
    /// The network the library builds from `arguments`, with its keys.
    static func reading(_ arguments: JSONValue, file: String?) throws(FormatError) -> LayoutReading
    /// What the file says of the data besides the network (classes, the library's settings).
    static func metadata(_ input: LayoutInput) -> CheckpointMetadata
    /// The files the library reads beside weights written to `path` (nnU-Net's plans.json,
    /// smp's config.json), from what the checkpoint recorded; none by default.
    static func besideFiles(for path: String, metadata: CheckpointMetadata) -> [(path: String, json: JSONValue)]
}

extension LibraryLayout {
    static func metadata(_ input: LayoutInput) -> CheckpointMetadata { CheckpointMetadata() }
    static func besideFiles(for path: String, metadata: CheckpointMetadata) -> [(path: String, json: JSONValue)] {
        []
    }
}

/// The library layouts, in the order they are tried (after unet-ckpt's own keys).
let libraryLayouts: [any LibraryLayout.Type] = [
    NNUNetLayout.self, SMPUNetLayout.self, MonaiUNetLayout.self, MonaiBasicUNet3DLayout.self,
    MonaiDynUNetLayout.self, MonaiAttentionUnetLayout.self,
]

/// What a layout reads: the tensor keys and shapes of the file, and what else it holds.
struct LayoutInput {
    /// Float tensor keys in file order, after the container's prefixes were removed.
    let keys: [String]
    /// Shape by key.
    let shapes: [String: [Int]]
    /// The container's other entries and the JSON files beside it (`plans.json`, `config.json`),
    /// by name.
    let entries: [String: JSONValue]
    let file: String

    init(keys: [String], shapes: [String: [Int]], entries: [String: JSONValue] = [:], file: String) {
        self.keys = keys
        self.shapes = shapes
        self.entries = entries
        self.file = file
    }

    /// How many of `key(0)`, `key(1)`, … are tensors, counting until the first that is not.
    func count(_ key: (Int) -> String) -> Int {
        var count = 0
        while count < 1000, shapes[key(count)] != nil { count += 1 }
        return count
    }

    /// The shape of the conv weight `key`, of rank `rank` (the first conv's), or an error saying
    /// where the keys stop (mid-`part`: a level, a stage).
    func convWeight(_ key: String, rank: Int, of layout: any LibraryLayout.Type, endsMid part: String)
        throws(FormatError) -> [Int]
    {
        guard let shape = shapes[key], shape.count == rank else {
            throw unsupported(layout, "\(key) is missing or not a \(rank - 2)-D conv weight: the keys end mid-\(part)")
        }
        return shape
    }

    /// An error naming the file and the layout.
    func unsupported(_ layout: any LibraryLayout.Type, _ message: String) -> FormatError {
        FormatError(.unsupported, file: file, "\(layout.name): \(message)")
    }
}

/// A network built by a library layout, with the library key of each of its tensors.
struct LayoutReading: Sendable {
    /// The library and its class (`metadata.source.library`, `.class`).
    var library: String
    var className: String
    var architecture: UNetArchitecture
    /// Library key → canonical key, in the library's state-dict order.
    var keys: [(source: String, canonical: String)]
    /// Keys under which the library stores a tensor a second time (nnU-Net's `all_modules`,
    /// `decoder.encoder`): alias → the library key of the first copy.
    var aliases: [(alias: String, of: String)] = []
    /// Tensors the module holds but its forward never reads (smp's unused ResNet stages), with
    /// their shapes: left out when read; written as zeros on export, so that the library's
    /// strict loading finds every key it builds (the outputs cannot depend on them).
    var unused: [(key: String, shape: [Int])] = []
    /// The library's constructor arguments, recorded in `metadata.source.arguments`.
    var arguments: JSONValue
    /// What the layout takes to be so although neither the weights nor the file show it.
    var assumptions: [String] = []
    /// What the file says of the data besides the network (classes, input normalisation).
    var metadata = CheckpointMetadata()

    /// Records the library, its arguments and what was assumed in `metadata.source`, and the
    /// file's own metadata where the checkpoint has none.
    func describe(in target: inout CheckpointMetadata, layout: String) {
        var source = target.source ?? CheckpointMetadata.Source(format: nil, layout: layout)
        source.library = library
        source.className = className
        source.arguments = AssumedArguments.withoutAssumptions(arguments)
        source.assumptions = assumptions.isEmpty ? nil : assumptions
        target.source = source
        target.classes = target.classes ?? metadata.classes
        target.input = target.input ?? metadata.input
        for (key, value) in metadata.additionalFields where target.additionalFields[key] == nil {
            target.additionalFields[key] = value
        }
    }
}

/// Builds layers the way unet-ckpt names them (`conv0`, `norm1`, `res0` per stage, counted per
/// kind), recording the library key of every tensor they hold.
struct KeyedLayers {
    let dims: Int
    private(set) var keys: [(source: String, canonical: String)] = []
    private var counters: [String: Int] = [:]

    init(dims: Int) { self.dims = dims }

    /// The next name of `kind` in the stage or block `prefix`: `conv0`, `conv1`, …
    mutating func name(_ kind: String, in prefix: String) -> String {
        let counter = "\(prefix)|\(kind)"
        defer { counters[counter, default: 0] += 1 }
        return "\(kind)\(counters[counter, default: 0])"
    }

    /// Records that the tensors `parameters` of the library module `source` are those of `layer` in `prefix`.
    mutating func bind(_ source: String, to layer: String, in prefix: String, _ parameters: [String]) {
        for parameter in parameters {
            keys.append(("\(source).\(parameter)", "\(prefix).\(layer).\(parameter)"))
        }
    }

    /// The same value on every axis.
    func axes(_ value: Int) -> [Int] { Array(repeating: value, count: dims) }

    /// "Same" padding of an odd kernel: `(k − 1) / 2` per axis.
    func padding(_ kernel: [Int]) -> [Int] { kernel.map { ($0 - 1) / 2 } }

    mutating func conv(
        _ source: String, in prefix: String, out: Int, kernel: [Int], stride: [Int]? = nil, padding: [Int],
        groups: Int = 1, bias: Bool
    ) -> Layer {
        let name = name("conv", in: prefix)
        bind(source, to: name, in: prefix, bias ? ["weight", "bias"] : ["weight"])
        return .conv(
            .init(
                name: name, out: out, kernel: kernel, stride: stride, padding: .explicit(padding), groups: groups,
                bias: bias))
    }

    mutating func convTranspose(
        _ source: String, in prefix: String, out: Int, kernel: [Int], stride: [Int], padding: [Int]? = nil,
        outputPadding: [Int]? = nil, bias: Bool
    ) -> Layer {
        let name = name("conv", in: prefix)
        bind(source, to: name, in: prefix, bias ? ["weight", "bias"] : ["weight"])
        return .convTranspose(
            .init(
                name: name, out: out, kernel: kernel, stride: stride, padding: padding.map { .explicit($0) },
                outputPadding: outputPadding, bias: bias))
    }

    /// A norm; its tensors are the affine scale and shift, and for batch norm the running statistics.
    mutating func norm(
        _ source: String, in prefix: String, kind: Layer.Norm.Kind, eps: Double, affine: Bool, groups: Int? = nil,
        momentum: Double? = nil
    ) -> Layer {
        let parameters = (affine ? ["weight", "bias"] : []) + (kind == .batch ? ["running_mean", "running_var"] : [])
        var name: String?
        if !parameters.isEmpty {
            name = self.name("norm", in: prefix)
            bind(source, to: name!, in: prefix, parameters)
        }
        return .norm(.init(name: name, kind: kind, eps: eps, affine: affine, groups: groups, momentum: momentum))
    }

    /// A PReLU with its slope tensor.
    mutating func prelu(_ source: String, in prefix: String, parameters: Int) -> Layer {
        let name = name("act", in: prefix)
        bind(source, to: name, in: prefix, ["weight"])
        return .activation(.init(.prelu, name: name, parameters: parameters))
    }
}

/// What a layout assumed, each for the argument it stands in for. They travel with the arguments
/// (under `assumed`) while these are read, and are recorded apart (`metadata.source.assumptions`);
/// an argument a mapping file states (docs/mapping.md) is no longer assumed.
struct AssumedArguments {
    static let key = "assumed"
    private var entries: [String: JSONValue] = [:]

    /// Records that `field` (a dotted path into the arguments, `arch_kwargs.strides`) was assumed.
    mutating func assume(_ field: String, _ text: String) { entries[field] = .string(text) }

    /// Puts the assumptions into `arguments`.
    func record(in arguments: inout [String: JSONValue]) {
        if !entries.isEmpty { arguments[Self.key] = .object(entries) }
    }

    /// The assumptions' wording, ordered by the argument they concern.
    static func texts(in arguments: JSONValue) -> [String] {
        (arguments[key]?.objectValue ?? [:]).sorted { $0.key < $1.key }.compactMap(\.value.stringValue)
    }

    /// The arguments with `overrides` deep-merged in, and the assumptions they state dropped.
    static func stating(_ overrides: [String: JSONValue], in arguments: JSONValue) -> JSONValue {
        guard !overrides.isEmpty, case .object(var merged) = arguments.merging(.object(overrides)) else {
            return arguments
        }
        let stated = JSONValue.object(overrides)
        let kept = (arguments[key]?.objectValue ?? [:]).filter { field, _ in
            var value: JSONValue? = stated
            for component in field.split(separator: ".") { value = value?[String(component)] }
            return value == nil
        }
        merged[key] = kept.isEmpty ? nil : .object(kept)
        return .object(merged)
    }

    /// The arguments as the library takes them.
    static func withoutAssumptions(_ arguments: JSONValue) -> JSONValue {
        guard case .object(var fields) = arguments else { return arguments }
        fields[key] = nil
        return .object(fields)
    }
}
