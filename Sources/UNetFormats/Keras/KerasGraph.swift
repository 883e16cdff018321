import Foundation
import UNetCheckpoint

/// The layers of a Keras functional model as its stored config describes them: names, classes,
/// their arguments, and which layers feed each one. The config is read as data only; nothing in
/// it is evaluated (Lambda layers are refused by class name).
public struct KerasGraph: Sendable {
    public struct Layer: Sendable {
        public let name: String
        public let className: String
        /// Names of the layers feeding this one, in argument order.
        public let inputs: [String]
        /// How many times the layer is called (more than once: a shared layer).
        public let calls: Int
        public let config: [String: JSONValue]

        var activation: String? { if case .string(let a)? = config["activation"] { a } else { nil } }
        var padding: String? { if case .string(let p)? = config["padding"] { p } else { nil } }
        var number: (String) -> Double? {
            { key in if case .number(let n)? = config[key] { n } else { nil } }
        }
        /// Whether the layer is itself a model (its weights nest under its group).
        var isNested: Bool {
            ["Functional", "Sequential", "Model"].contains(className) || config["layers"] != nil
        }
    }

    /// The model's name in its config.
    public let name: String?
    /// Layers in the config's order (the model's `layers`, the order they were created).
    public let layers: [Layer]
    /// The layers whose outputs are the model's outputs.
    public let outputs: [String]
    /// The model config as stored, kept in the metadata of a network read from it
    /// (`KerasGraphExport`).
    public let modelConfig: JSONValue

    /// Parses a Keras 2 or 3 model config (`model_config` attribute or `config.json`).
    init(json text: String, file: String) throws(FormatError) {
        guard let root = try? JSONDecoder().decode(JSONValue.self, from: Data(text.utf8)) else {
            throw FormatError(.malformed, file: file, "the Keras model config is not JSON")
        }
        try self.init(config: root, file: file)
    }

    /// Reads a model config already parsed as JSON.
    init(config root: JSONValue, file: String) throws(FormatError) {
        guard case .object(let model) = root, case .object(let config)? = model["config"],
            case .array(let layerList)? = config["layers"]
        else { throw FormatError(.malformed, file: file, "the Keras model config is not a functional model's JSON") }
        if case .string("Sequential")? = model["class_name"] {
            throw FormatError(
                .unsupported, file: file, "the Keras model is Sequential: a chain of layers has no skip connections")
        }
        var layers: [Layer] = []
        for entry in layerList {
            guard case .object(let layer) = entry, case .string(let className)? = layer["class_name"],
                case .object(let arguments)? = layer["config"]
            else {
                throw FormatError(.malformed, file: file, "a layer of the Keras config has no class_name or config")
            }
            var name = ""
            if case .string(let n)? = layer["name"] {
                name = n
            } else if case .string(let n)? = arguments["name"] {
                name = n
            }
            if className == "Lambda" || className == "TFOpLambda" {
                throw FormatError(
                    .refused, file: file,
                    "layer \(name) is a \(className) layer, whose config holds code; it is not read")
            }
            var calls = 0
            if case .array(let nodes)? = layer["inbound_nodes"] { calls = nodes.count }
            layers.append(
                Layer(
                    name: name, className: className, inputs: Self.inboundNames(layer["inbound_nodes"] ?? .null),
                    calls: calls, config: arguments))
        }
        self.layers = layers
        modelConfig = root
        if case .string(let n)? = config["name"] { name = n } else { name = nil }
        outputs = Self.inboundNames(config["output_layers"] ?? .null)
    }

    /// The names of the layers a node list refers to: Keras 3's `keras_history`, or Keras 2's
    /// `[name, node, tensor, kwargs]` lists.
    static func inboundNames(_ value: JSONValue) -> [String] {
        switch value {
        case .object(let object):
            if case .array(let history)? = object["keras_history"], case .string(let name)? = history.first {
                return [name]
            }
            return object.keys.sorted().flatMap { inboundNames(object[$0] ?? .null) }
        case .array(let items):
            if items.count >= 3, case .string(let name) = items[0], case .number = items[1] { return [name] }
            return items.flatMap(inboundNames)
        default:
            return []
        }
    }

    /// The group each layer's weights are stored under in a Keras 3 weights file: Keras
    /// (`saving_lib._save_container_state`) names the entries of `model.layers` by their class
    /// in snake case, numbered per class in the model's layer order (`conv2d`, `conv2d_1`, …),
    /// whatever the layers' own names.
    var weightGroups: [(group: String, layer: Layer)] {
        var used: [String: Int] = [:]
        return layers.map { layer in
            let base = Self.snakeCase(layer.className)
            let count = used[base, default: 0]
            used[base] = count + 1
            return (count == 0 ? base : "\(base)_\(count)", layer)
        }
    }

    /// Keras' `naming.to_snake_case`: non-word characters dropped, `_` before each capitalised
    /// word and between a lower-case letter and a capital, lower-cased (`UpSampling2D` →
    /// `up_sampling2d`, `ReLU` → `re_lu`).
    static func snakeCase(_ name: String) -> String {
        func replace(_ text: String, _ pattern: String, _ template: String) -> String {
            guard let expression = try? NSRegularExpression(pattern: pattern) else { return text }
            return expression.stringByReplacingMatches(
                in: text, range: NSRange(text.startIndex..., in: text), withTemplate: template)
        }
        let words = replace(name, "[^A-Za-z0-9_]+", "")
        return replace(replace(words, "(.)([A-Z][a-z]+)", "$1_$2"), "([a-z])([A-Z])", "$1_$2").lowercased()
    }
}
