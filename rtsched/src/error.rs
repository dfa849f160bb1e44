//! Errors returned by the hooks, with the Xen errno each one maps to.

/// Why a hook refused to act. A hook that returns an error has changed nothing.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Error {
    /// Parameters outside Xen's limits (budget > period, period or budget below 10 us, period
    /// above `STIME_DELTA_MAX`, zero or negative values). Maps to `EINVAL`.
    InvalidParams,
    /// A handle that names no allocated unit. Maps to `EINVAL`.
    NoSuchUnit,
    /// A CPU number that is out of range or not managed by this instance. Maps to `EINVAL`.
    NoSuchCpu,
    /// A hook time outside `0..=MAX_TIME` ([`crate::params::MAX_TIME`]). Maps to `EINVAL`.
    InvalidTime,
    /// A unit whose effective affinity (hard affinity and online CPUs) is empty. Maps to `EINVAL`.
    NoAllowedCpu,
    /// The unit storage is full. Maps to `ENOSPC`.
    NoSpace,
    /// The unit is in a state that does not allow the request (freeing a unit that is still
    /// inserted or running, inserting it twice, a queue hook on a unit not inserted). Maps to `EBUSY`.
    Busy,
    /// Admission control rejected the request. Maps to `ENOSPC`.
    NotAdmitted,
    /// A storage size or alignment the instance cannot use. Maps to `EINVAL`.
    BadStorage,
    /// An internal invariant did not hold; the call stopped before changing anything further.
    /// Maps to `EIO`. Never expected: tests check it cannot happen.
    Corrupt,
}

impl Error {
    /// [`Error::Corrupt`], made on paths the hooks never take: out of line and cold, so that
    /// the compiler lays each hook's common path out without the error exits in between (a
    /// hook that finds its code in few instruction-cache lines costs less when the guests'
    /// execution has left it in no cache).
    #[cold]
    #[inline(never)]
    pub(crate) fn corrupt() -> Error {
        Error::Corrupt
    }

    /// `self`, on a hook's refusal of bad input (out of line and cold, as [`Self::corrupt`]:
    /// the hooks' checks of their arguments stay out of the common path's cache lines).
    #[cold]
    #[inline(never)]
    pub(crate) fn cold(self) -> Error {
        self
    }

    /// The (positive) Xen errno value of this error; hosts return its negation.
    pub const fn errno(self) -> i32 {
        match self {
            Error::InvalidParams
            | Error::NoSuchUnit
            | Error::NoSuchCpu
            | Error::InvalidTime
            | Error::NoAllowedCpu
            | Error::BadStorage => 22,
            Error::NoSpace | Error::NotAdmitted => 28,
            Error::Busy => 16,
            Error::Corrupt => 5,
        }
    }
}

/// The result of a hook.
pub type Result<T> = core::result::Result<T, Error>;
