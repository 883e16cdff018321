import UNetCheckpoint

/// What MONAI's networks share: their `act` / `norm` arguments (a name, or `[name, {arguments}]`),
/// the `ADN` block they build from them, and the constructor arguments a Lightning checkpoint
/// keeps in `hyper_parameters`.
enum MonaiOptions {
    /// The constructor arguments found in the file's entries: the first object, in
    /// `hyper_parameters` first, that holds all of `fields` (Lightning saves them flat or under the
    /// network's attribute).
    static func constructorArguments(in input: LayoutInput, fields: [String]) -> [String: JSONValue]? {
        func search(_ value: JSONValue, depth: Int) -> [String: JSONValue]? {
            guard depth < 5, let object = value.objectValue else { return nil }
            if fields.allSatisfy({ object[$0] != nil }) { return object }
            for key in object.keys.sorted() {
                if let found = search(object[key]!, depth: depth + 1) { return found }
            }
            return nil
        }
        if let hyper = input.entries["hyper_parameters"], let found = search(hyper, depth: 0) { return found }
        for key in input.entries.keys.sorted() where key != "hyper_parameters" {
            if let found = search(input.entries[key]!, depth: 0) { return found }
        }
        return nil
    }

    /// A MONAI option (`"PRELU"`, `["instance", {"affine": true}]`): its lower-case name and arguments.
    static func option(_ value: JSONValue) -> (name: String, arguments: [String: JSONValue])? {
        if let name = value.stringValue { return (name.lowercased(), [:]) }
        guard let items = value.arrayValue, let name = items.first?.stringValue else { return nil }
        return (name.lowercased(), items.count > 1 ? items[1].objectValue ?? [:] : [:])
    }

    /// A norm as MONAI's `get_norm_layer` builds it.
    typealias Norm = (kind: Layer.Norm.Kind, eps: Double, affine: Bool, groups: Int?)

    /// MONAI's `norm` argument as a schema norm (`nil` for `None`).
    static func norm(_ value: JSONValue, file: String?, layout: String) throws(FormatError) -> Norm? {
        if value.isNull { return nil }
        guard let (name, arguments) = option(value) else {
            throw FormatError(.unsupported, file: file, "\(layout): the norm \(value.compactText) is not understood")
        }
        let eps = arguments["eps"]?.doubleValue ?? 1e-5
        switch name {
        case "batch":
            if arguments["track_running_stats"]?.boolValue == false {
                throw FormatError(
                    .unsupported, file: file, "\(layout): a batch norm without running statistics is not built")
            }
            return (.batch, eps, arguments["affine"]?.boolValue ?? true, nil)
        case "instance":
            if arguments["track_running_stats"]?.boolValue == true {
                throw FormatError(
                    .unsupported, file: file,
                    "\(layout): an instance norm with track_running_stats normalises with running statistics")
            }
            return (.instance, eps, arguments["affine"]?.boolValue ?? false, nil)
        case "group":
            guard let groups = arguments["num_groups"]?.integerValue, groups > 0 else {
                throw FormatError(.unsupported, file: file, "\(layout): a group norm without num_groups")
            }
            return (.group, eps, arguments["affine"]?.boolValue ?? true, groups)
        default:
            throw FormatError(
                .unsupported, file: file, "\(layout): the norm \(name) is not built (batch, instance, group)")
        }
    }

    /// MONAI's `act` argument: a schema activation, or `prelu` with its slope count (`nil` for `None`).
    static func activation(_ value: JSONValue, file: String?, layout: String) throws(FormatError) -> Activation? {
        if value.isNull { return nil }
        guard let (name, arguments) = option(value) else {
            throw FormatError(.unsupported, file: file, "\(layout): the act \(value.compactText) is not understood")
        }
        switch name {
        case "prelu": return .prelu(parameters: arguments["num_parameters"]?.integerValue ?? 1)
        case "relu": return .plain(.init(.relu))
        case "relu6": return .plain(.init(.relu6))
        case "leakyrelu":
            return .plain(.init(.leakyReLU, negativeSlope: arguments["negative_slope"]?.doubleValue ?? 0.01))
        case "elu": return .plain(.init(.elu, alpha: arguments["alpha"]?.doubleValue ?? 1))
        case "gelu": return .plain(.init(.gelu, approximate: arguments["approximate"]?.stringValue ?? "none"))
        case "sigmoid": return .plain(.init(.sigmoid))
        case "tanh": return .plain(.init(.tanh))
        default:
            throw FormatError(
                .unsupported, file: file,
                "\(layout): the act \(name) is not built (prelu, relu, relu6, leakyrelu, elu, gelu, sigmoid, tanh)")
        }
    }

    enum Activation: Equatable {
        case prelu(parameters: Int)
        case plain(Layer.Activation)
    }

    /// MONAI's `ADN` block (`<source>.adn.N`, `.D`, `.A`) in its `ordering`.
    struct ADN {
        var norm: Norm?
        var activation: Activation?
        var dropout: Double?
        var ordering = "NDA"

        func layers(_ layers: inout KeyedLayers, source: String, prefix: String) -> [Layer] {
            var result: [Layer] = []
            for item in ordering.uppercased() {
                switch item {
                case "N":
                    if let norm { result.append(normLayer(&layers, norm, source: "\(source).adn.N", prefix: prefix)) }
                case "D": if let dropout { result.append(.dropout(.init(rate: dropout))) }
                case "A":
                    switch activation {
                    case .prelu(let parameters):
                        result.append(layers.prelu("\(source).adn.A", in: prefix, parameters: parameters))
                    case .plain(let activation): result.append(.activation(activation))
                    case nil: break
                    }
                default: break
                }
            }
            return result
        }
    }

    /// The norm layer `source` (a batch norm with PyTorch's momentum 0.1).
    static func normLayer(_ layers: inout KeyedLayers, _ norm: Norm, source: String, prefix: String) -> Layer {
        layers.norm(
            source, in: prefix, kind: norm.kind, eps: norm.eps, affine: norm.affine, groups: norm.groups,
            momentum: norm.kind == .batch ? 0.1 : nil)
    }

    /// MONAI's `Convolution` block: the conv `<source>.conv` (padding `(k − 1)/2` unless given;
    /// transposed, output padding stride − 1 unless given), then its ADN (none for `conv_only`).
    static func convolution(
        _ layers: inout KeyedLayers, source: String, prefix: String, out: Int, kernel: [Int], stride: [Int],
        padding: [Int]? = nil, outputPadding: [Int]? = nil, transposed: Bool = false, bias: Bool, adn: ADN?
    ) -> [Layer] {
        let padding = padding ?? layers.padding(kernel)
        let conv =
            transposed
            ? layers.convTranspose(
                "\(source).conv", in: prefix, out: out, kernel: kernel, stride: stride, padding: padding,
                outputPadding: outputPadding ?? stride.map { $0 - 1 }, bias: bias)
            : layers.conv(
                "\(source).conv", in: prefix, out: out, kernel: kernel, stride: stride, padding: padding, bias: bias)
        return [conv] + (adn?.layers(&layers, source: source, prefix: prefix) ?? [])
    }

    /// A list of `count` per-axis values from an integer or a list of integers or lists.
    static func perAxis(_ value: JSONValue?, dims: Int, count: Int) -> [[Int]]? {
        guard let value else { return nil }
        if let single = value.integerValue {
            return Array(repeating: Array(repeating: single, count: dims), count: count)
        }
        if let list = value.integers, list.count == dims, count == 1 { return [list] }
        guard let items = value.arrayValue, items.count >= count else { return nil }
        var result: [[Int]] = []
        for item in items.prefix(count) {
            if let single = item.integerValue {
                result.append(Array(repeating: single, count: dims))
            } else if let list = item.integers, list.count == dims {
                result.append(list)
            } else {
                return nil
            }
        }
        return result
    }
}
