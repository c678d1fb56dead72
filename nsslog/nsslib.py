"""Look-ups of error names and texts in the NSS library installed on this host, through ctypes.

NSS registers its error tables with NSPR at run time: `NSS_NoDB_Init(NULL)` registers the
NSPR and SEC tables, and libssl3 registers the SSL table on its first call, so one SSL
option is set to the value it already has. After that `PR_ErrorToName` and
`PR_ErrorToString` return the name and text of every code the library defines. mozilla::pkix codes are
registered only inside Firefox, never by libnss3.

Nothing here is required: when the libraries cannot be loaded, the functions raise
NssLibraryUnavailable and the callers go on without them.
"""

from __future__ import annotations

import ctypes
import signal

from nsslog.codes import FAMILY_RANGES

# Debian's sonames (packages libnspr4 and libnss3); find_library is the fallback.
NSPR_SONAME = "libnspr4.so"
NSS_SONAME = "libnss3.so"
SSL_SONAME = "libssl3.so"

_SSL_SECURITY = 1  # ssl.h: SSL_SECURITY, on by default
_PR_LANGUAGE_I_DEFAULT = 0  # prerror.h
_SEC_SUCCESS = 0  # seccomon.h


class NssLibraryUnavailable(RuntimeError):
    """Error raised when the NSS libraries cannot be loaded or initialised; the message gives the reason."""


class NssLibrary:
    """A loaded and initialised NSS, with its error tables registered."""

    def __init__(self, nspr: ctypes.CDLL, nss: ctypes.CDLL, ssl: ctypes.CDLL) -> None:
        self._to_name = _function(nspr, "PR_ErrorToName", ctypes.c_char_p, [ctypes.c_int32])
        self._to_string = _function(nspr, "PR_ErrorToString", ctypes.c_char_p, [ctypes.c_int32, ctypes.c_uint32])
        self.version = _call_version(nss)

        _initialise(nss)
        _register_ssl_errors(ssl)

    def name(self, code: int) -> str | None:
        """Return the library's name for `code`, or None when the code is not in its tables."""
        raw = self._to_name(code)
        return raw.decode("ascii", "replace") if raw else None

    def text(self, code: int) -> str | None:
        """Return the library's own text for `code`, or None when the code is not in its tables."""
        if self.name(code) is None:
            return None
        raw = self._to_string(code, _PR_LANGUAGE_I_DEFAULT)
        return raw.decode("utf-8", "replace") if raw else None

    def codes(self) -> tuple[int, ...]:
        """Return every code in the library's tables, found by scanning each family's range."""
        found = []
        for first, last in FAMILY_RANGES.values():
            found.extend(code for code in range(first, last + 1) if self._to_name(code))
        return tuple(sorted(found, reverse=True))


def open_library(nspr: str = NSPR_SONAME, nss: str = NSS_SONAME, ssl: str = SSL_SONAME) -> NssLibrary:
    """Load NSPR, NSS and libssl3 by soname and initialise NSS without a database."""
    return NssLibrary(_load(nspr), _load(nss), _load(ssl))


_default: NssLibrary | NssLibraryUnavailable | None = None


def default_library() -> NssLibrary:
    """Return the host's NSS, loaded once per process; raise NssLibraryUnavailable without it."""
    global _default
    if _default is None:
        try:
            _default = open_library()
        except NssLibraryUnavailable as problem:
            _default = problem
    if isinstance(_default, NssLibraryUnavailable):
        raise _default
    return _default


def library_name(code: int) -> str | None:
    """Return the installed NSS's name for `code`, or None when the code is not in its tables."""
    return default_library().name(code)


def library_text(code: int) -> str | None:
    """Return the installed NSS's text for `code`, or None when the code is not in its tables."""
    return default_library().text(code)


def library_codes() -> tuple[int, ...]:
    """Return every code in the installed NSS's tables."""
    return default_library().codes()


def library_version() -> str:
    """Return the version of the installed NSS, such as "3.87.1"."""
    return default_library().version


def available() -> bool:
    """Tell whether the installed NSS can be loaded and initialised."""
    try:
        default_library()
    except NssLibraryUnavailable:
        return False
    return True


def _load(soname: str) -> ctypes.CDLL:
    try:
        return ctypes.CDLL(soname)
    except OSError as first_problem:
        path = _find(soname)
        if path is None:
            raise NssLibraryUnavailable(
                f"cannot load {soname}: {first_problem}; install NSS (Debian: apt-get install libnss3)"
            ) from None
    try:
        return ctypes.CDLL(path)
    except OSError as problem:
        raise NssLibraryUnavailable(f"cannot load {path}: {problem}") from None


def _find(soname: str) -> str | None:
    import ctypes.util  # slow (it may run ldconfig), so only when the soname failed

    stem = soname.removeprefix("lib").split(".so")[0]
    return ctypes.util.find_library(stem)


def _function(library: ctypes.CDLL, name: str, restype, argtypes: list):
    try:
        function = getattr(library, name)
    except AttributeError:
        raise NssLibraryUnavailable(f"{library._name} has no function {name}") from None
    function.restype = restype
    function.argtypes = argtypes
    return function


def _call_version(nss: ctypes.CDLL) -> str:
    get_version = _function(nss, "NSS_GetVersion", ctypes.c_char_p, [])
    return get_version().decode("ascii", "replace")


def _initialise(nss: ctypes.CDLL) -> None:
    # A second NSS_NoDB_Init in the same process also returns SECSuccess (seen with NSS 3.87.1).
    init = _function(nss, "NSS_NoDB_Init", ctypes.c_int, [ctypes.c_char_p])

    # NSPR sets SIGPIPE to be ignored when it starts; the command line's own choice stays.
    previous = signal.getsignal(signal.SIGPIPE) if hasattr(signal, "SIGPIPE") else None
    status = init(None)
    if previous is not None:
        signal.signal(signal.SIGPIPE, previous)

    if status != _SEC_SUCCESS:
        raise NssLibraryUnavailable("NSS_NoDB_Init(NULL) failed")


def _register_ssl_errors(ssl: ctypes.CDLL) -> None:
    # libssl3 registers its error table on its first call. Setting an option to the value
    # it already has is such a call, and it changes nothing.
    get_default = _function(ssl, "SSL_OptionGetDefault", ctypes.c_int, [ctypes.c_int32, ctypes.POINTER(ctypes.c_int)])
    set_default = _function(ssl, "SSL_OptionSetDefault", ctypes.c_int, [ctypes.c_int32, ctypes.c_int])

    value = ctypes.c_int(0)
    if get_default(_SSL_SECURITY, ctypes.byref(value)) != _SEC_SUCCESS:
        raise NssLibraryUnavailable("SSL_OptionGetDefault(SSL_SECURITY) failed")
    if set_default(_SSL_SECURITY, value.value) != _SEC_SUCCESS:
        raise NssLibraryUnavailable("SSL_OptionSetDefault(SSL_SECURITY) failed")
