/// A value rebuilt from a pickle by ``RestrictedUnpickler``: plain data, tensors, storages, numpy
/// data and placeholders of module objects only. Lists, dicts and objects are reference types
/// because a pickle may fill them after memoising them.
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
    /// A numpy dtype (`numpy.dtype`), kept to decode numpy scalars and arrays.
    case numpyDType(NumpyDType)
    /// A numpy array (`numpy.ndarray`), filled by BUILD.
    case numpyArray(NumpyArray)
    /// An instance of a class that is never imported (a TorchScript or `torch.nn.Module` object):
    /// its class name, and the state BUILD gave it.
    case object(PickleObject)

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
        case .numpyDType: "numpy dtype"
        case .numpyArray(let array): "numpy \(array.dtype?.code ?? "") array of \(array.elementCount) elements"
        case .object(let object): "\(object.className) object"
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

/// An instance of a class the pickle names but that is never imported: a placeholder holding
/// the constructor arguments (NEWOBJ) and the state (BUILD).
final class PickleObject {
    let className: String
    let arguments: [PickleValue]
    var state: PickleValue = .none

    init(className: String, arguments: [PickleValue]) {
        self.className = className
        self.arguments = arguments
    }
}

/// The globals the checkpoints unet-ckpt reads need, each rebuilt as inert data. Everything else
/// is refused by name, except classes that a TorchScript archive or a pickled module tree only
/// instantiates (``placeholderClass``), which become ``PickleObject`` placeholders.
enum PickleGlobal: Equatable {
    case orderedDict
    case rebuildTensor
    case rebuildParameter
    case storageType(PyTorchDType)
    /// `_codecs.encode(text, "latin1")`: how protocol 2 spells a `bytes` object.
    case latin1Encode
    /// `numpy._core.multiarray.scalar(dtype, bytes)` (`numpy.core…` before numpy 2).
    case numpyScalar
    case numpyDType
    /// `numpy._core.multiarray._reconstruct(numpy.ndarray, shape, typecode)`, filled by BUILD.
    case numpyReconstruct
    case numpyNDArray
    /// `torch.device(type, index)`: becomes its string (`cuda:0`).
    case torchDevice
    /// `builtins.set(list)` (protocol 2: `__builtin__.set`), in module trees.
    case set
    /// `copyreg._reconstructor(class, object, None)`: protocol 0/1's way to instantiate a class.
    case reconstructor
    /// `builtins.object`, the base `copyreg._reconstructor` names.
    case objectBase
    /// A class that may only be instantiated (NEWOBJ, `copyreg._reconstructor`), never called.
    case placeholderClass(module: String, name: String)

    var module: String {
        switch self {
        case .orderedDict: "collections"
        case .rebuildTensor, .rebuildParameter: "torch._utils"
        case .storageType, .torchDevice: "torch"
        case .latin1Encode: "_codecs"
        case .numpyScalar, .numpyReconstruct: "numpy._core.multiarray"
        case .numpyDType, .numpyNDArray: "numpy"
        case .set, .objectBase: "builtins"
        case .reconstructor: "copyreg"
        case .placeholderClass(let module, _): module
        }
    }

    var name: String {
        switch self {
        case .orderedDict: "OrderedDict"
        case .rebuildTensor: "_rebuild_tensor_v2"
        case .rebuildParameter: "_rebuild_parameter"
        case .storageType(let dtype): dtype.storageName
        case .latin1Encode: "encode"
        case .numpyScalar: "scalar"
        case .numpyDType: "dtype"
        case .numpyReconstruct: "_reconstruct"
        case .numpyNDArray: "ndarray"
        case .torchDevice: "device"
        case .set: "set"
        case .reconstructor: "_reconstructor"
        case .objectBase: "object"
        case .placeholderClass(_, let name): name
        }
    }

    /// The global of a plain checkpoint (state dicts, training dicts, nnU-Net's numpy data).
    init?(module: String, name: String) {
        switch (module, name) {
        case ("collections", "OrderedDict"): self = .orderedDict
        case ("torch._utils", "_rebuild_tensor_v2"): self = .rebuildTensor
        case ("torch._utils", "_rebuild_parameter"): self = .rebuildParameter
        case ("_codecs", "encode"): self = .latin1Encode
        case ("numpy._core.multiarray", "scalar"), ("numpy.core.multiarray", "scalar"): self = .numpyScalar
        case ("numpy._core.multiarray", "_reconstruct"), ("numpy.core.multiarray", "_reconstruct"):
            self = .numpyReconstruct
        case ("numpy", "dtype"): self = .numpyDType
        case ("numpy", "ndarray"): self = .numpyNDArray
        case ("torch", "device"): self = .torchDevice
        case ("torch", let storage):
            guard let dtype = PyTorchDType(storageName: storage) else { return nil }
            self = .storageType(dtype)
        default: return nil
        }
    }

    /// The globals only a pickled module tree uses besides its classes.
    init?(moduleTreeModule module: String, name: String) {
        switch (module, name) {
        case ("builtins", "set"), ("__builtin__", "set"): self = .set
        case ("copyreg", "_reconstructor"), ("copy_reg", "_reconstructor"): self = .reconstructor
        case ("builtins", "object"), ("__builtin__", "object"): self = .objectBase
        default: return nil
        }
    }
}

/// A numpy dtype from `numpy.dtype(code, False, True)` and its BUILD state (the byte order).
final class NumpyDType {
    /// The type code: `f8`, `f4`, `f2`, `i8`, `i4`, `i2`, `i1`, `u8`, `u4`, `u2`, `u1`, `b1`.
    let code: String
    var bigEndian = false

    init(code: String) { self.code = code }

    var itemSize: Int? { Int(code.dropFirst()).flatMap { [1, 2, 4, 8].contains($0) ? $0 : nil } }

    /// The number the item's bytes hold, or nil for a type code outside the list.
    func value(of bytes: ArraySlice<UInt8>) -> PickleValue? {
        guard let size = itemSize, bytes.count == size, let kind = code.first else { return nil }
        let ordered = bigEndian ? Array(bytes) : bytes.reversed()
        let bits = ordered.reduce(UInt64(0)) { ($0 << 8) | UInt64($1) }
        switch (kind, size) {
        case ("f", 8): return .float(Double(bitPattern: bits))
        case ("f", 4): return .float(Double(Float(bitPattern: UInt32(bits))))
        case ("f", 2): return .float(Double(Float16(bitPattern: UInt16(bits))))
        case ("i", _):
            let shift = UInt64(64 - 8 * size)
            return .int(Int64(bitPattern: bits << shift) >> Int64(shift))
        case ("u", _):
            guard bits <= UInt64(Int64.max) else { return .float(Double(bits)) }
            return .int(Int64(bits))
        case ("b", 1): return .bool(bits != 0)
        default: return nil
        }
    }
}

/// A numpy array: `_reconstruct` makes it empty, BUILD gives it
/// `(version, shape, dtype, is_fortran, raw bytes)`.
final class NumpyArray {
    var shape: [Int] = [0]
    var dtype: NumpyDType?
    var fortranOrder = false
    var data: [UInt8] = []

    var elementCount: Int { shape.reduce(1, *) }

    /// Its elements in C order, or nil when their type or bytes do not fit.
    func elements() -> [PickleValue]? {
        guard let dtype, let size = dtype.itemSize, data.count == elementCount * size, !fortranOrder || shape.count <= 1
        else { return nil }
        var values: [PickleValue] = []
        values.reserveCapacity(elementCount)
        for start in stride(from: 0, to: data.count, by: size) {
            guard let value = dtype.value(of: data[start..<(start + size)]) else { return nil }
            values.append(value)
        }
        return values
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
