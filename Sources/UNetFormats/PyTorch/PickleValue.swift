/// A value rebuilt from a pickle by ``RestrictedUnpickler``: plain data, tensors and storages only.
/// Lists and dicts are reference types because a pickle may fill them after memoising them.
indirect enum PickleValue {
    case none
    case bool(Bool)
    case int(Int64)
    case float(Double)
    case string(String)
    case bytes([UInt8])
    case tuple([PickleValue])
    case list(PickleList)
    case dict(PickleDict)
    /// An allowed global (a class or function), before it is called.
    case global(PickleGlobal)
    /// A reference to one storage of the archive (a persistent id).
    case storage(StorageReference)
    /// A tensor view of a storage.
    case tensor(TensorReference)

    /// A short name of the value's kind, for error messages.
    var kindName: String {
        switch self {
        case .none: "None"
        case .bool: "bool"
        case .int: "int"
        case .float: "float"
        case .string: "str"
        case .bytes: "bytes"
        case .tuple: "tuple"
        case .list: "list"
        case .dict: "dict"
        case .global(let g): "\(g.module).\(g.name)"
        case .storage: "storage"
        case .tensor: "tensor"
        }
    }
}

final class PickleList {
    var items: [PickleValue] = []
}

final class PickleDict {
    /// Entries in insertion order; keys are usually strings.
    var entries: [(key: PickleValue, value: PickleValue)] = []
}

/// The globals a state dict needs. Everything else is refused by name.
enum PickleGlobal: Equatable {
    case orderedDict
    case rebuildTensor
    case rebuildParameter
    case storageType(PyTorchDType)

    var module: String {
        switch self {
        case .orderedDict: "collections"
        case .rebuildTensor, .rebuildParameter: "torch._utils"
        case .storageType: "torch"
        }
    }

    var name: String {
        switch self {
        case .orderedDict: "OrderedDict"
        case .rebuildTensor: "_rebuild_tensor_v2"
        case .rebuildParameter: "_rebuild_parameter"
        case .storageType(let dtype): dtype.storageName
        }
    }

    init?(module: String, name: String) {
        switch (module, name) {
        case ("collections", "OrderedDict"): self = .orderedDict
        case ("torch._utils", "_rebuild_tensor_v2"): self = .rebuildTensor
        case ("torch._utils", "_rebuild_parameter"): self = .rebuildParameter
        case ("torch", let storage):
            guard let dtype = PyTorchDType(storageName: storage) else { return nil }
            self = .storageType(dtype)
        default: return nil
        }
    }
}

/// The element types of PyTorch storages that a state dict of a U-Net may hold.
enum PyTorchDType: String, CaseIterable {
    case float32, float16, bfloat16, float64, int64, int32, uint8, bool

    var storageName: String {
        switch self {
        case .float32: "FloatStorage"
        case .float16: "HalfStorage"
        case .bfloat16: "BFloat16Storage"
        case .float64: "DoubleStorage"
        case .int64: "LongStorage"
        case .int32: "IntStorage"
        case .uint8: "ByteStorage"
        case .bool: "BoolStorage"
        }
    }

    init?(storageName: String) {
        guard let match = Self.allCases.first(where: { $0.storageName == storageName }) else { return nil }
        self = match
    }

    var size: Int {
        switch self {
        case .float64, .int64: 8
        case .float32, .int32: 4
        case .float16, .bfloat16: 2
        case .uint8, .bool: 1
        }
    }
}

/// A storage named by the pickle: its element type, its entry key (`data/<key>`) and element count.
struct StorageReference: Equatable {
    let dtype: PyTorchDType
    let key: String
    let elementCount: Int
}

/// A tensor as the pickle describes it: a strided view of a storage.
struct TensorReference {
    let storage: StorageReference
    let offset: Int
    let shape: [Int]
    let strides: [Int]
}
