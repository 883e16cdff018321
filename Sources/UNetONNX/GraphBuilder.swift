import Foundation

/// Collects the nodes and initializers of an ONNX graph in topological order. Every value is a
/// name; a node's output is named after the node, so the graph reads like the network's layers.
struct GraphBuilder {
    private(set) var nodes: [Onnx_NodeProto] = []
    private(set) var initializers: [Onnx_TensorProto] = []
    /// Initializer names already written.
    private var initializerNames: Set<String> = []
    /// Node names already taken (they are also the names of the nodes' outputs).
    private var nodeNames: Set<String> = []

    /// Appends a node and returns the name of its (single) output: `output`, or the node's name.
    @discardableResult
    mutating func node(
        _ opType: String, _ inputs: [String], name: String, output: String? = nil,
        attributes: [Onnx_AttributeProto] = []
    ) -> String {
        precondition(nodeNames.insert(name).inserted, "two nodes named \(name)")
        var node = Onnx_NodeProto()
        node.opType = opType
        node.name = name
        node.input = inputs
        node.output = [output ?? name]
        node.attribute = attributes
        nodes.append(node)
        return output ?? name
    }

    /// Adds a float32 initializer (once per name) and returns its name.
    @discardableResult
    mutating func floatInitializer(_ name: String, shape: [Int], values: [Float]) -> String {
        precondition(values.count == shape.reduce(1, *), "\(values.count) values for \(name) \(shape)")
        guard initializerNames.insert(name).inserted else { return name }
        initializers.append(
            Self.tensor(name, shape: shape, type: .float, bytes: values.withUnsafeBytes { Data($0) }))
        return name
    }

    /// Adds a 1-D int64 constant (shared between nodes that use the same values) and returns its name.
    mutating func int64Constant(_ values: [Int64]) -> String {
        let name = "const.int64." + values.map(String.init).joined(separator: "_")
        guard initializerNames.insert(name).inserted else { return name }
        initializers.append(
            Self.tensor(name, shape: [values.count], type: .int64, bytes: values.withUnsafeBytes { Data($0) }))
        return name
    }

    /// A tensor with its values as little-endian raw bytes (the host is little-endian).
    static func tensor(_ name: String, shape: [Int], type: Onnx_TensorProto.DataType, bytes: Data)
        -> Onnx_TensorProto
    {
        var tensor = Onnx_TensorProto()
        tensor.name = name
        tensor.dims = shape.map(Int64.init)
        tensor.dataType = Int32(type.rawValue)
        tensor.rawData = bytes
        return tensor
    }
}

/// Node attributes by kind.
enum Attribute {
    static func int(_ name: String, _ value: Int) -> Onnx_AttributeProto {
        var attribute = named(name, .int)
        attribute.i = Int64(value)
        return attribute
    }

    static func ints(_ name: String, _ values: [Int]) -> Onnx_AttributeProto {
        var attribute = named(name, .ints)
        attribute.ints = values.map(Int64.init)
        return attribute
    }

    static func float(_ name: String, _ value: Float) -> Onnx_AttributeProto {
        var attribute = named(name, .float)
        attribute.f = value
        return attribute
    }

    static func string(_ name: String, _ value: String) -> Onnx_AttributeProto {
        var attribute = named(name, .string)
        attribute.s = Data(value.utf8)
        return attribute
    }

    private static func named(_ name: String, _ type: Onnx_AttributeProto.AttributeType) -> Onnx_AttributeProto {
        var attribute = Onnx_AttributeProto()
        attribute.name = name
        attribute.type = type
        return attribute
    }
}
