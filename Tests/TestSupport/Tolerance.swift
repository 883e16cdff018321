/// Whether two optional numbers agree: both nil, or both present with
/// `|a − b| ≤ relativeTolerance · max(|a|, |b|)`.
public func approximatelyEqual(_ a: Double?, _ b: Double?, relativeTolerance: Double) -> Bool {
    switch (a, b) {
    case (nil, nil): return true
    case let (x?, y?): return abs(x - y) <= relativeTolerance * max(abs(x), abs(y))
    default: return false
    }
}
