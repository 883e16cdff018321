import UNetCheckpoint

/// The sizes a package's spatial axes declare, from the network's arithmetic (docs/format.md
/// §3.5): the input side as `min + n·step` (the spec's `ParameterizedSize`) and the output side
/// as the input side plus `offset` (its `SizeReference`; negative for valid convolutions, which
/// crop the halo themselves, so no `halo` is declared).
public struct PackageAxis: Sendable, Equatable {
    /// `z`, `y`, `x`.
    public let id: String
    public let minimum: Int
    public let step: Int
    public let offset: Int

    /// How many sides of the progression are checked to be valid, and to give `side + offset`.
    static let checkedSteps = 12

    /// The axes of a network's input, in the order (D,) H, W.
    public static func axes(of network: UNetNetwork) throws(BioImageExportError) -> [PackageAxis] {
        let dims = network.architecture.spatialDims
        let ids = dims == 3 ? ["z", "y", "x"] : ["y", "x"]
        var axes: [PackageAxis] = []
        for axis in 0..<dims {
            guard let minimum = network.minimumInputSide(axis: axis) else {
                throw BioImageExportError("the network has no valid input side along \(ids[axis])")
            }
            func output(_ side: Int) -> Int? {
                network.sides(forInputSide: side, axis: axis).map { $0[network.output] }
            }
            func holds(_ step: Int) -> Int? {
                guard let first = output(minimum) else { return nil }
                let offset = first - minimum
                for k in 1...checkedSteps {
                    guard let side = output(minimum + k * step), side == minimum + k * step + offset else { return nil }
                }
                return offset
            }
            let period = network.period(axis: axis)
            let first = network.acceptsAnyInputSide(axis: axis) ? 1 : period
            // The progression is the period's in every network of the schema; a smaller step is
            // searched for only to name the sides when the output is not the input side plus a constant.
            guard let step = ([first] + Array(1...max(period, 1))).first(where: { holds($0) != nil }),
                let offset = holds(step)
            else {
                throw BioImageExportError(
                    "along \(ids[axis]) the output side is not the input side plus a constant on the valid sides "
                        + "from \(minimum) (every \(period)): the package's output size cannot be stated")
            }
            axes.append(PackageAxis(id: ids[axis], minimum: minimum, step: step, offset: offset))
        }
        return axes
    }
}
